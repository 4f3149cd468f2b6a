"""The async classes whose sync faces scripts/gen_sync_faces.py generates."""

FACES = [("anyservices.minio._service", "MinioService")]
