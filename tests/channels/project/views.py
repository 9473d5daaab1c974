import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import authenticate, login
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from tests.channels.project.consumers import where


def fast(request):
    return HttpResponse("ok")


@csrf_exempt
def broadcast(request, group):
    """A sync view sending to a group through the channel layer."""
    text = json.loads(request.body)["text"]
    async_to_sync(get_channel_layer().group_send)(
        group, {"type": "news.message", "text": text, **where()}
    )
    return JsonResponse(where())


@csrf_exempt
def login_view(request):
    user = authenticate(
        request, username=request.POST["username"], password=request.POST["password"]
    )
    if user is None:
        return HttpResponse(status=403)
    login(request, user)
    return HttpResponse("ok")
