"""Every route × every role × a user of the other organization: nothing leaks, foreign ids answer 404."""
import pytest

from tests.api import world

USERS = ("minister", "exec1", "assistant1", "clerk1", "employee1", "employee2", "exec2")
OK = {"GET": 200, "PATCH": 200, "DELETE": 204}

# route, method, body, {user: expected status}; users not named expect 404.
MATRIX = [
    ("/documents/{doc}", "GET", None, {u: 200 for u in ("minister", "exec1", "assistant1", "clerk1")}),
    ("/documents/{doc}/attachments/{attachment}", "GET", None,
     {u: 200 for u in ("minister", "exec1", "assistant1", "clerk1")}),
    ("/documents/{doc}/attachments/{attachment}/pages", "GET", None,
     {u: 200 for u in ("minister", "exec1", "assistant1", "clerk1")}),
    ("/documents/{doc}/resolutions", "POST", {"text": "Исполнить", "executors": ["5"]},
     {"minister": 201, "exec1": 201, "assistant1": 403, "clerk1": 403}),
    ("/resolutions/{draft}", "GET", None, {"exec1": 200, "assistant1": 200}),
    ("/resolutions/{draft}", "PATCH", {"text": "Подготовить ответ к пятнице"}, {"exec1": 200, "assistant1": 200}),
    ("/resolutions/{draft}/issue", "POST", None, {"exec1": 200, "assistant1": 403}),
    ("/resolutions/{issued}", "GET", None,
     {u: 200 for u in ("minister", "exec1", "assistant1", "clerk1", "employee1")}),
    ("/tasks/{task}/complete", "POST", {"report": "Готово"}, {"exec1": 200}),
    ("/inbox/{item}/read", "POST", None, {"exec1": 204}),
    ("/devices/{device}", "DELETE", None, {"exec1": 204}),
]


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("path,method,body,allowed", MATRIX, ids=[f"{m} {p}" for p, m, _, _ in MATRIX])
def test_route_answers_each_user_as_the_contract_says(login, demo, user, path, method, body, allowed):
    ids = world.build(login, demo)
    if body and body.get("executors"):
        body = {**body, "executors": [str(demo["employee1"].id)]}
    api = login(user)
    resp = getattr(api, method.lower())(path.format(**ids), json=body)
    expected = allowed.get(user, 404)
    assert resp.status_code == expected, resp.get_data(as_text=True)
    if expected >= 400:
        problem = resp.get_json()
        assert resp.content_type == "application/problem+json"
        assert problem["code"] == ("not_found" if expected == 404 else "forbidden")
        # A refusal never echoes what it refused.
        assert "Подготовить" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("user", USERS)
def test_lists_hold_only_the_users_own_items(login, demo, user):
    world.build(login, demo)
    api = login(user)
    for item in api.get("/inbox?limit=100").get_json()["items"]:
        assert api.get(f"/documents/{item['document_id']}").status_code == 200
    tasks = api.get("/tasks?view=open").get_json()["items"]
    assert all(api.post(f"/tasks/{t['id']}/complete", json={"report": "ok"}).status_code == 200 for t in tasks)
    if user == "exec2":
        # The other organization sees only its own document.
        titles = [i["title"] for i in api.get("/inbox").get_json()["items"]]
        assert titles == ["О подготовке к отопительному сезону"]


def test_every_route_is_in_the_openapi_document(app, client):
    """Every route of the apps' API; the review console's pages are for browsers, not generated clients."""
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "api-docs.openapi_json") or rule.endpoint.startswith("console."):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<id:{arg}>", f"{{{arg}}}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)
