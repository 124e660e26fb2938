"""The baseline: a bare Flask JSON endpoint served with the same gunicorn settings as the API."""
from flask import Flask, jsonify

app = Flask(__name__)
LINES = [{"id": str(i), "document_id": str(i), "kind": "task", "reg_number": f"МЦР-{i}/26",
          "title": "О ходе исполнения поручения", "from": "Минфин", "received_at": "2026-11-25T09:30:00Z",
          "due_at": None, "unread": True, "urgent": False} for i in range(100)]
ITEMS, ITEMS_100 = LINES[:25], LINES  # an inbox page's 25 lines; the contract's default sync page's 100


@app.get("/bare")
def bare():
    return jsonify({"items": ITEMS, "next_cursor": None})


@app.get("/bare100")
def bare100():
    return jsonify({"items": ITEMS_100, "next_cursor": None})
