"""The async classes whose sync faces scripts/gen_sync_faces.py generates.

MongoSession is not listed: it has no coroutine methods, so both faces hand out the
same object and take it back as ``session=``.
"""

FACES = [
    (
        "anyservices.mongo._service",
        "MongoService",
        "anyservices.mongo._sync_extras:MongoSyncExtras",
    ),
    ("anyservices.mongo._collection", "MongoCollection"),
]
