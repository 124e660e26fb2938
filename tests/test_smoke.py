def test_exec1_signs_in_and_sees_every_inbox_kind(login):
    api = login("exec1")
    kinds = {item["kind"] for item in api.get("/inbox?limit=100").get_json()["items"]}
    assert kinds == {"review", "resolution", "approval", "task", "info"}
