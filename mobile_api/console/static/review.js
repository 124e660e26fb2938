// The review screen: words that play the audio, keys for the hands on the keyboard, saving through the server.
(function () {
  "use strict";
  const root = document.getElementById("review");
  if (!root) return;
  const messages = JSON.parse(document.getElementById("messages").textContent);
  const audio = document.getElementById("audio");
  const words = Array.from(document.querySelectorAll("[data-testid=word]"));
  const text = document.getElementById("text");
  const notice = document.getElementById("notice");
  const speedOut = document.getElementById("speed");
  const JUMP_S = 3;
  const SPEEDS = [0.5, 0.6, 0.75, 0.9, 1.0, 1.25, 1.5, 2.0];
  let playing = null;

  function say(message, bad) {
    notice.textContent = message;
    notice.className = bad ? "error" : "ok";
  }

  // Audio: click a word to play from its start; the word under the playhead is highlighted.
  function wordAt(t) {
    let found = null;
    for (const w of words) {
      if (parseFloat(w.dataset.start) <= t + 0.01) found = w; else break;
    }
    return found && t <= parseFloat(found.dataset.end) + 0.25 ? found : null;
  }

  function highlight() {
    const w = audio ? wordAt(audio.currentTime) : null;
    if (w !== playing) {
      if (playing) playing.classList.remove("playing");
      if (w) w.classList.add("playing");
      playing = w;
    }
  }

  function tick() {
    highlight();
    if (audio && !audio.paused) requestAnimationFrame(tick);
  }

  function playFrom(w) {
    if (!audio) return;
    audio.currentTime = parseFloat(w.dataset.start);
    highlight();
    audio.play().catch(function () { /* a browser may refuse play before a gesture */ });
  }

  if (audio) {
    audio.addEventListener("play", function () { requestAnimationFrame(tick); });
    audio.addEventListener("timeupdate", highlight);
    audio.addEventListener("seeked", highlight);
  }

  words.forEach(function (w) {
    w.addEventListener("click", function (ev) {
      if (ev.target.classList.contains("undo")) return;
      playFrom(w);
    });
  });

  function setSpeed(step) {
    if (!audio) return;
    let i = SPEEDS.indexOf(audio.playbackRate);
    if (i < 0) i = SPEEDS.indexOf(1.0);
    i = Math.max(0, Math.min(SPEEDS.length - 1, i + step));
    audio.playbackRate = SPEEDS[i];
    speedOut.textContent = SPEEDS[i].toFixed(2).replace(/0$/, "");
  }

  function nextFlagged() {
    const flagged = words.filter(function (w) { return w.dataset.review === "true"; });
    if (!flagged.length || !audio) return;
    const now = audio.currentTime;
    const next = flagged.find(function (w) { return parseFloat(w.dataset.start) > now + 0.01; }) || flagged[0];
    flagged.forEach(function (w) { w.classList.remove("current"); });
    next.classList.add("current");
    next.scrollIntoView({block: "nearest"});
    playFrom(next);
  }

  // Keyboard first: these work while typing in the editor too.
  document.addEventListener("keydown", function (ev) {
    let handled = true;
    if (ev.key === "Escape" && audio) {
      if (audio.paused) audio.play(); else audio.pause();
    } else if (ev.key === "F1" && audio) {
      audio.currentTime = Math.max(0, audio.currentTime - JUMP_S);
    } else if (ev.key === "F2" && audio) {
      audio.currentTime = Math.min(audio.duration || Infinity, audio.currentTime + JUMP_S);
    } else if (ev.key === "F3") {
      setSpeed(-1);
    } else if (ev.key === "F4") {
      setSpeed(1);
    } else if (ev.key === "F8") {
      nextFlagged();
    } else if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "s") {
      save();
    } else {
      handled = false;
    }
    if (handled) ev.preventDefault();
  });

  // An automatic correction undone with one click: the heard words go back into the text.
  document.querySelectorAll("[data-testid=undo-correction]").forEach(function (button) {
    button.addEventListener("click", function () {
      const w = button.parentElement;
      const meant = w.firstChild.textContent.trim();
      const before = words.slice(0, words.indexOf(w)).filter(function (o) {
        return o.dataset.corrected === "true" && o.firstChild.textContent.trim() === meant;
      }).length;
      let at = -1;
      for (let n = 0; n <= before; n++) at = text.value.indexOf(meant, at + 1);
      if (at >= 0) text.value = text.value.slice(0, at) + w.dataset.heard + text.value.slice(at + meant.length);
      w.firstChild.textContent = w.dataset.heard;
      w.dataset.corrected = "undone";
      button.remove();
      say("", false);
    });
  });

  // Executors: chips, and autocomplete over the organization's people.
  const chosen = document.getElementById("chosen");
  const search = document.getElementById("executor-search");
  const suggestions = document.getElementById("suggestions");
  let pending = null;

  function addChip(id, name) {
    if (chosen.querySelector('[data-id="' + id + '"]')) return;
    const li = document.createElement("li");
    li.dataset.id = id;
    li.dataset.testid = "executor-chip";
    li.setAttribute("data-testid", "executor-chip");
    li.textContent = name;
    const x = document.createElement("button");
    x.type = "button";
    x.className = "remove";
    x.setAttribute("aria-label", messages.remove);
    x.textContent = "×";
    li.appendChild(x);
    chosen.appendChild(li);
  }

  chosen.addEventListener("click", function (ev) {
    if (ev.target.classList.contains("remove")) ev.target.parentElement.remove();
  });

  function showSuggestions(people) {
    suggestions.replaceChildren();
    people.forEach(function (p) {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.setAttribute("data-testid", "executor-option");
      li.tabIndex = 0;
      li.textContent = p.name;
      if (p.position || p.unit) {
        const small = document.createElement("small");
        small.textContent = " " + [p.position, p.unit].filter(Boolean).join(", ");
        li.appendChild(small);
      }
      li.addEventListener("mousedown", function (ev) {
        ev.preventDefault();
        addChip(p.id, p.name);
        search.value = "";
        suggestions.replaceChildren();
        search.focus();
      });
      suggestions.appendChild(li);
    });
  }

  if (search) {
    search.addEventListener("input", function () {
      clearTimeout(pending);
      const q = search.value.trim();
      if (!q) { suggestions.replaceChildren(); return; }
      pending = setTimeout(function () {
        fetch(root.dataset.peopleUrl + "&q=" + encodeURIComponent(q), {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(showSuggestions);
      }, 120);
    });
    search.addEventListener("blur", function () { setTimeout(function () { suggestions.replaceChildren(); }, 150); });
  }

  // Saving, reviewing and issuing go through the server's rules; each answer redraws the revisions.
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf},
      body: JSON.stringify(body || {}),
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error(data.detail || r.statusText);
        return data;
      });
    });
  }

  function current() {
    const body = {text: text.value};
    const ids = Array.from(chosen.querySelectorAll("li")).map(function (li) { return li.dataset.id; });
    if (ids.length) body.executors = ids;
    const d = document.getElementById("deadline").value;
    body.deadline = d || null;  // a date: the rules make it the end of that day in the organization's zone
    return body;
  }

  function show(state) {
    document.getElementById("revisions").innerHTML = state.revisions_html;
    document.querySelector("[data-testid=status]").textContent = state.status_label;
    return state;
  }

  function save() {
    if (!document.getElementById("save")) return Promise.resolve(null);
    return post(root.dataset.saveUrl, current()).then(show).then(function (s) { say(messages.saved, false); return s; })
      .catch(function (e) { say(messages.failed + e.message, true); throw e; });
  }

  function button(id, handler) {
    const b = document.getElementById(id);
    if (b) b.addEventListener("click", handler);
  }

  button("save", function () { save().catch(function () {}); });
  button("mark-reviewed", function () {
    save().then(function () { return post(root.dataset.reviewedUrl); }).then(show).then(function (s) {
      say(s.status_label, false);
      const b = document.getElementById("mark-reviewed");
      if (b) b.remove();
    }).catch(function (e) { say(messages.failed + e.message, true); });
  });
  button("issue", function () {
    save().then(function () { return post(root.dataset.issueUrl); }).then(show).then(function (s) {
      say(s.status_label, false);
      ["save", "mark-reviewed", "issue"].forEach(function (id) {
        const b = document.getElementById(id);
        if (b) b.remove();
      });
      text.readOnly = true;
    }).catch(function (e) { say(messages.failed + e.message, true); });
  });
  root.dataset.ready = String(performance.now());  // interactive: every handler is in place
})();
