"""Plain sync views: each call below runs on the shared portal, the request thread waits."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from pydantic import BaseModel, ValidationError

from anyservices.mongo import MongoDuplicateKeyError

from .services import services


class User(BaseModel):
    email: str
    name: str


#: Each client may call ``/hello`` this many times per minute.
HELLO_LIMIT = 5


@csrf_exempt
@require_POST
def create_user(request: HttpRequest) -> HttpResponse:
    try:
        user = User.model_validate_json(request.body)
    except ValidationError as error:  # names the field, never echoes the input
        errors = error.json(include_input=False, include_url=False)
        return HttpResponse(errors, status=400, content_type="application/json")
    try:
        services.mongo.insert_one("users", user.model_dump())
    except MongoDuplicateKeyError:  # the unique index on email
        return HttpResponse(f"{user.email} is taken", status=409)
    return JsonResponse(user.model_dump(), status=201)


@require_GET
def get_user(_request: HttpRequest, email: str) -> JsonResponse:
    """A user by the indexed ``email``, cached in Redis for a minute."""

    def load() -> dict[str, Any]:  # a plain function: it runs in this request's thread
        found = services.mongo.find_one("users", {"email": email}, {"_id": 0})
        if found is None:
            raise Http404(f"no user {email}")  # nothing is cached
        return found

    return JsonResponse(services.redis.get_or_compute(f"user:{email}", load, ex=60))


@require_GET
def hello(request: HttpRequest) -> HttpResponse:
    """Rate limited per client: 429 once the minute's quota is spent."""
    client = request.META.get("REMOTE_ADDR", "unknown")
    allowed, remaining = services.redis.check_rate_limit(f"hello:{client}", HELLO_LIMIT, 60)
    if not allowed:
        return HttpResponse("too many requests", status=429, headers={"Retry-After": "60"})
    return JsonResponse({"remaining": remaining})
