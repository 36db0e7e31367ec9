"""TaskService of one simulated Redfish service: the tasks behind 202 task monitors, for a BMC that
answers an action with "accepted, still running" (``RedfishFleet.set_reset_response(name, 202)``)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass

from harness.clock import Clock
from harness.sim.redfish.documents import V1, Body, collection, iso, link, otype
from harness.sim.redfish.registry import message

TASKS = f"{V1}/TaskService/Tasks"
TASK_MONITORS = f"{V1}/TaskService/TaskMonitors"


@dataclass
class Task:
    id: str
    done: Callable[[], bool]
    started: float
    finished: float | None = None


class TaskService:
    """Tasks of one service; a task is done when its ``done()`` first says so (simulated time)."""

    def __init__(self, clock: Clock, lock: threading.RLock) -> None:
        self.clock, self.lock = clock, lock
        self.tasks: dict[str, Task] = {}
        self._task_ids = itertools.count(1)

    def add_task(self, done: Callable[[], bool]) -> Task:
        with self.lock:
            task = Task(str(next(self._task_ids)), done, self.clock.now())
            self.tasks[task.id] = task
            return task

    def task_done(self, task: Task) -> bool:
        if task.finished is None and task.done():
            task.finished = self.clock.now()
        return task.finished is not None

    def task_body(self, task: Task) -> Body:
        done = self.task_done(task)
        body: Body = {"@odata.id": f"{TASKS}/{task.id}", "@odata.type": otype("Task"), "Id": task.id,
                      "Name": f"Task {task.id}", "TaskState": "Completed" if done else "Running",
                      "TaskStatus": "OK", "PercentComplete": 100 if done else 50,
                      "StartTime": iso(task.started), "TaskMonitor": f"{TASK_MONITORS}/{task.id}",
                      "Messages": [message("TaskEvent.TaskCompletedOK" if done else "TaskEvent.TaskStarted",
                                           task.id)]}
        if task.finished is not None:
            body["EndTime"] = iso(task.finished)
        return body

    def task_service(self) -> Body:
        return {"@odata.id": f"{V1}/TaskService", "@odata.type": otype("TaskService"), "Id": "TaskService",
                "Name": "Task Service", "ServiceEnabled": True, "CompletedTaskOverWritePolicy": "Oldest",
                "LifeCycleEventOnTaskStateChange": False, "Status": {"State": "Enabled", "Health": "OK"},
                "Tasks": link(TASKS)}

    def routes(self) -> dict[str, Callable[[], Body]]:
        return {
            f"{V1}/TaskService": self.task_service,
            TASKS: lambda: collection(TASKS, "TaskCollection", "Tasks", [f"{TASKS}/{i}" for i in self.tasks]),
        }
