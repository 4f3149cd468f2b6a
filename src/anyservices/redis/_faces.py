"""The async classes whose sync faces scripts/gen_sync_faces.py generates."""

FACES = [("anyservices.redis._service", "RedisService")]
