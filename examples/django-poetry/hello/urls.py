"""GET / answers the commit it was built from, /items/<n> a serialized item, /healthz ok."""
import os

from django.http import HttpResponse
from django.urls import path
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response


class ItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    double = serializers.IntegerField()


def commit(request):
    return HttpResponse(os.environ.get("PAAS_COMMIT_SHA", "unknown") + "\n", content_type="text/plain")


def healthz(request):
    return HttpResponse("ok\n", content_type="text/plain")


@api_view(["GET"])
def item(request, item_id: int):
    return Response(ItemSerializer({"id": item_id, "double": item_id * 2}).data)


urlpatterns = [
    path("", commit),
    path("healthz", healthz),
    path("items/<int:item_id>", item),
]
