"""The async classes whose sync faces scripts/gen_sync_faces.py generates."""

FACES = [
    (
        "anyservices.redis._service",
        "RedisService",
        "anyservices.redis._sync_extras:SyncRedisExtras",
    ),
    ("anyservices.redis._pipeline", "Pipeline"),
    ("anyservices.redis._pubsub", "Subscription"),
    ("anyservices.redis._lock", "Lock"),
]
