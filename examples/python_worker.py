"""A render worker in Python (standard library only): reserve credits, run the job, capture.

    CREDITS_URL=http://127.0.0.1:3000 CREDITS_KEY=dev-service-key-change-me \
      CREDITS_WORKSPACE=demo python3 examples/python_worker.py
"""
import json
import os
import urllib.error
import urllib.request
import uuid

URL = os.environ.get("CREDITS_URL", "http://127.0.0.1:3000")
KEY = os.environ["CREDITS_KEY"]
WORKSPACE = os.environ.get("CREDITS_WORKSPACE", "demo")


def call(method, path, body=None):
    """One request to the HTTP API; errors carry error.data.reason."""
    request = urllib.request.Request(
        f"{URL}/api/v1/workspaces/{WORKSPACE}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        error = json.load(e)["error"]
        raise RuntimeError(f"{e.code} {error['data']['reason']}: {error['message']}") from None


job_id = str(uuid.uuid4())  # one key per step of this job: a retry repeats nothing
job = {"kind": "image", "type": "hero", "count": 2}

hold = call("POST", "/holds", {"job": job, "idempotencyKey": f"{job_id}:reserve"})
print(f"reserved {hold['credits']} credits, hold {hold['holdId']}")

rendered = {**job, "count": 1}  # ... render here; say only one image came out
done = call(
    "POST",
    f"/holds/{hold['holdId']}/capture",
    {"actual": rendered, "idempotencyKey": f"{job_id}:capture"},
)
print(f"captured {done['captured']}, returned {done['returned']}, balance {done['balance']}")
