"""sessions: who ran each session of a run (the first and every --resume), when, on which clock, how it
ended; series.session, so each session's telemetry is placed on the run's time line; devices.session,
so a resumed session records the identities it found changed (a replaced PSU, a BMC that now answers)

Runs stored before this revision get their sessions back from what the store has: the first session
from the run row, each later one from its "resumed" event (its operator was not recorded: empty). Their
attempts are renumbered as attempts are now numbered across sessions: a resumed session's budget counts
on from the attempts earlier sessions made (an "attempt 2/1" becomes 2/2).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sessions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=80), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('operator', sa.String(length=200), nullable=False),
    sa.Column('command_line', sa.Text(), nullable=False),
    sa.Column('clock', sa.String(length=40), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('verdict', sa.String(length=20), nullable=True),
    sa.Column('t_offset', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sessions_run_id'), ['run_id'], unique=False)
    for table in ('series', 'devices'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('session', sa.Integer(), nullable=False, server_default='1'))
    _backfill()
    op.execute("UPDATE attempts SET \"of\" = \"of\" + (SELECT count(*) FROM attempts AS earlier WHERE "
               "earlier.step_id = attempts.step_id AND earlier.session < attempts.session)")


def _backfill() -> None:
    conn = op.get_bind()
    runs = sa.table('runs', sa.column('id', sa.String), sa.column('operator', sa.String),
                    sa.column('command_line', sa.Text), sa.column('sessions', sa.Integer),
                    sa.column('started_at', sa.DateTime(timezone=True)), sa.column('ended_at', sa.DateTime(timezone=True)),
                    sa.column('status', sa.String), sa.column('verdict', sa.String))
    events = sa.table('events', sa.column('id', sa.Integer), sa.column('run_id', sa.String), sa.column('kind', sa.String),
                      sa.column('at', sa.DateTime(timezone=True)))
    sessions = sa.table('sessions', sa.column('run_id', sa.String), sa.column('number', sa.Integer),
                        sa.column('operator', sa.String), sa.column('command_line', sa.Text),
                        sa.column('clock', sa.String), sa.column('started_at', sa.DateTime(timezone=True)),
                        sa.column('ended_at', sa.DateTime(timezone=True)), sa.column('status', sa.String),
                        sa.column('verdict', sa.String), sa.column('t_offset', sa.Float))
    resumed: dict[str, list[object]] = {}
    for run_id, at in conn.execute(sa.select(events.c.run_id, events.c.at).where(events.c.kind == 'resumed')
                                   .order_by(events.c.id)):
        resumed.setdefault(run_id, []).append(at)
    rows = []
    for r in conn.execute(sa.select(runs)).mappings():
        starts = [r['started_at'], *resumed.get(r['id'], [])][:max(1, r['sessions'])]
        for n, start in enumerate(starts, 1):
            last = n == len(starts)
            rows.append({'run_id': r['id'], 'number': n, 'operator': r['operator'] if n == 1 else '',
                         'command_line': r['command_line'] if n == 1 else '', 'clock': '', 'started_at': start,
                         'ended_at': r['ended_at'] if last else None, 'status': r['status'] if last else '',
                         'verdict': r['verdict'] if last else None, 't_offset': 0.0})
    if rows:
        op.bulk_insert(sessions, rows)


def downgrade() -> None:
    for table in ('series', 'devices'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('session')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sessions_run_id'))
    op.drop_table('sessions')
