"""The async classes whose sync faces scripts/gen_sync_faces.py generates."""

FACES = [
    (
        "anyservices.queue._service",
        "QueueService",
        "anyservices.queue._sync_extras:SyncQueueExtras",
    ),
    ("anyservices.queue._events", "JobEvents"),
    (
        "anyservices.queue._task",
        "TaskDecorator",
        "anyservices.queue._sync_extras:SyncTaskDecoratorExtras",
    ),
]
