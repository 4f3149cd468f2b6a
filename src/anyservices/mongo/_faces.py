"""The async classes whose sync faces scripts/gen_sync_faces.py generates.

MongoSession is not listed: it has no coroutine methods, so both faces hand out the
same object and take it back as ``session``. The collection's PyMongo surface is not
generated: ``MongoCollectionSyncExtras`` derives it from the async handle at run time.
"""

FACES = [
    (
        "anyservices.mongo._service",
        "MongoService",
        "anyservices.mongo._sync_extras:MongoSyncExtras",
    ),
    (
        "anyservices.mongo._collection",
        "MongoCollection",
        "anyservices.mongo._collection:MongoCollectionSyncExtras",
    ),
]
