"""Schemathesis hooks: sign every request to the Zansoc API as it is sent (EIP-712, see README "Signed requests").

Each prepared request (final URL, content type and body bytes) is copied to the test's request signer
(test/support/request-signer.ts, at ZANSOC_SIGNER_URL), which signs it with the API's own code; the returned headers
are added to the request. As an auth provider, schemathesis also sends each request without it, to check that the
API refuses unsigned calls.
"""

import http.client
import json
import os
from urllib.parse import urlsplit

import requests
import schemathesis

SIGNER = urlsplit(os.environ["ZANSOC_SIGNER_URL"])


class ZansocSignature(requests.auth.AuthBase):
    def __call__(self, request):
        if request.method not in ("GET", "POST", "PUT"):
            return request
        target = urlsplit(request.url)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        headers = {"x-original-method": request.method}
        if "Content-Type" in request.headers:
            headers["Content-Type"] = request.headers["Content-Type"]
        connection = http.client.HTTPConnection(SIGNER.hostname, SIGNER.port, timeout=30)
        try:
            connection.request("POST", target.path + ("?" + target.query if target.query else ""), body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
        finally:
            connection.close()
        # The signer refuses what the API would refuse before checking a signature (a body that is not JSON): unsigned.
        if response.status == 200:
            request.headers.update(json.loads(answer))
        return request


schemathesis.auth.set_from_requests(ZansocSignature())
