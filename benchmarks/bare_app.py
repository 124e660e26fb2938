"""The baseline: a bare Flask JSON endpoint served with the same gunicorn settings as the API."""
from flask import Flask, jsonify

app = Flask(__name__)
ITEMS = [{"id": str(i), "document_id": str(i), "kind": "task", "reg_number": f"МЦР-{i}/26",
          "title": "О ходе исполнения поручения", "from": "Минфин", "received_at": "2026-11-25T09:30:00Z",
          "due_at": None, "unread": True, "urgent": False} for i in range(25)]


@app.get("/bare")
def bare():
    return jsonify({"items": ITEMS, "next_cursor": None})
