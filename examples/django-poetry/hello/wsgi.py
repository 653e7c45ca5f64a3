"""WSGI entry point, found by paas's detection (manage.py names hello.settings)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello.settings")
application = get_wsgi_application()
