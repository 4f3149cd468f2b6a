"""The least settings a Django project needs to serve this example (no database)."""

SECRET_KEY = "example-only-not-a-secret"  # noqa: S105 -- a local example, never deployed
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS = ["examples.django_app.apps.ExampleConfig"]
ROOT_URLCONF = "examples.django_app.urls"
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
