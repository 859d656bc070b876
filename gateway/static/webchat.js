// Web chat: one stream of messages from the server, deduplicated by id. Sent messages come back
// in the POST response; RM replies and care messages arrive over the WebSocket. On reload or
// reconnect the client asks for everything after the last id it has, so nothing is lost.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const seen = new Set();
  let lastId = 0;
  let socket = null;
  let retry = 1000;

  const WHO = { customer: "我", bot: "小农（智能客服）", rm: "客户经理", system: "系统消息", campaign: "农商银行" };

  function setStatus(text) { $("status").textContent = text; }
  let serving = "";  // "周经理" while an RM serves
  // Who is serving and whether the RM is typing, pushed over the WebSocket (#21).
  function showServing(st) {
    serving = st.rm || "";
    $("serving").textContent = st.label || "";
    $("serving").dataset.state = st.state || "bot";
    $("typing").hidden = !st.rm_typing;
  }
  // Tell the RM the customer is typing, at most every two seconds.
  let typingSent = 0;
  function typing() {
    const now = Date.now();
    if (socket && socket.readyState === 1 && now - typingSent > 2000) {
      typingSent = now;
      socket.send(JSON.stringify({ typing: true }));
    }
  }

  function render(m) {
    if (seen.has(m.id)) return;
    seen.add(m.id);
    lastId = Math.max(lastId, m.id);
    // Buttons belong to the state they were offered in: once a newer answer arrives they are
    // greyed out, so an old "不用了，继续问小农" cannot be clicked while an RM serves.
    if (m.direction === "out") {
      document.querySelectorAll("#messages .choices button").forEach((x) => (x.disabled = true));
    }
    const li = document.createElement("li");
    li.className = `msg ${m.direction} ${m.author}`;
    li.dataset.id = m.id;
    const avatar = document.createElement("div");
    avatar.className = "avatar";
    avatar.textContent = m.direction === "in" ? "我" : (m.author === "rm" ? "经理" : "农");
    const body = document.createElement("div");
    body.className = "body";
    const who = document.createElement("div");
    who.className = "who";
    // Who and when (the device's local time; today's messages show the time only).
    const at = new Date(m.created_at);
    const today = at.toDateString() === new Date().toDateString();
    const when = at.toLocaleString("zh-CN", today ? { hour: "2-digit", minute: "2-digit", hour12: false }
      : { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false });
    who.textContent = `${(m.author === "rm" && serving) || WHO[m.author] || ""} ${when}`.trim();
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = m.text;  // textContent: customer and RM text is never parsed as HTML
    body.append(who, bubble);
    if (m.buttons && m.buttons.length) {
      const choices = document.createElement("div");
      choices.className = "choices";
      for (const b of m.buttons) {
        const btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.title;
        // The payload goes to the bot; the server stores (and echoes) the button's title as the customer's words.
        btn.addEventListener("click", () => { choices.querySelectorAll("button").forEach((x) => (x.disabled = true)); send(b.payload); });
        choices.append(btn);
      }
      body.append(choices);
    }
    li.append(avatar, body);
    $("messages").append(li);
    li.scrollIntoView({ block: "end" });
  }

  async function api(path, options = {}) {
    const resp = await fetch(path, { credentials: "same-origin", headers: { "Content-Type": "application/json" }, ...options });
    if (resp.status === 429) {
      // Rate-limited: the server's polite line is shown as the bot's (not stored).
      let line = "您发送得太快了，请稍等片刻再试。";
      try { line = (await resp.json()).message || line; } catch (_) { /* keep the default */ }
      const err = new Error(line);
      err.limited = true;
      throw err;
    }
    if (!resp.ok) throw new Error((await resp.text()) || resp.statusText);
    return resp.json();
  }

  function clearChat() {
    $("messages").textContent = "";  // lastId stays: the server sends only the new visit's messages anyway
  }

  async function logout() {
    try { await api("/api/logout", { method: "POST", body: "{}" }); } catch (_) { /* the cookie is gone either way */ }
    localStorage.removeItem("bankcare.started");
    if (socket) { socket.onclose = null; socket.close(); }
    clearChat();
    location.reload();
  }

  async function send(text) {
    text = (text || "").trim();
    if (!text) return;
    $("send").disabled = true;
    try {
      const data = await api("/api/messages", { method: "POST", body: JSON.stringify({ text, after: lastId }) });
      data.messages.forEach(render);
    } catch (err) {
      if (err.limited) {
        render({ id: -Date.now(), direction: "out", author: "bot", text: err.message, buttons: [],
          created_at: new Date().toISOString() });
        return;
      }
      const li = document.createElement("li");
      li.className = "system";
      li.textContent = "消息发送失败，请检查网络后重试。";
      $("messages").append(li);
    } finally {
      $("send").disabled = false;
      $("text").focus();
    }
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${proto}://${location.host}/ws?after=${lastId}`);
    socket.onopen = () => { retry = 1000; setStatus("在线"); };
    socket.onmessage = (ev) => {
      try {
        const data = JSON.parse(ev.data);
        if (data.type === "status") showServing(data);
        else if (data.type === "reset") clearChat();  // verification lapsed: earlier messages leave the screen
        else render(data);
      } catch (_) { /* ignore */ }
    };
    socket.onclose = () => {
      setStatus("重新连接中…");
      setTimeout(async () => { await loadHistory(); connect(); }, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  async function loadHistory() {
    try {
      const data = await api(`/api/messages?after=${lastId}`);
      data.messages.forEach(render);
      return true;
    } catch (_) { return false; }
  }

  async function openChat() {
    $("picker").hidden = true;
    $("chat").hidden = false;
    $("switch").hidden = false;
    $("logout").hidden = false;
    await loadHistory();
    connect();
    $("text").focus();
  }

  async function choose(persona) {
    await api("/api/session", { method: "POST", body: JSON.stringify(persona ? { persona } : {}) });
    localStorage.setItem("bankcare.started", "1");
    location.reload();
  }

  async function showPicker() {
    $("chat").hidden = true;
    $("picker").hidden = false;
    const people = await api("/api/demo-customers");
    const ul = $("personas");
    ul.textContent = "";
    for (const p of people) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.persona = p.web_id;
      b.textContent = p.label;
      const badge = document.createElement("span");
      badge.className = p.bound ? "badge" : "badge unbound";
      badge.textContent = p.bound ? "已绑定" : "未绑定";
      const small = document.createElement("small");
      small.textContent = p.note;
      b.append(badge, small);
      b.addEventListener("click", () => choose(p.web_id));
      li.append(b);
      ul.append(li);
    }
  }

  $("text").addEventListener("input", typing);
  $("composer").addEventListener("submit", (ev) => { ev.preventDefault(); const t = $("text").value; $("text").value = ""; send(t); });
  $("visitor").addEventListener("click", () => choose(null));
  $("logout").addEventListener("click", logout);
  $("switch").addEventListener("click", () => { localStorage.removeItem("bankcare.started"); if (socket) socket.onclose = null, socket.close(); showPicker(); });

  (async () => {
    if (localStorage.getItem("bankcare.started") && (await loadHistory())) { openChat(); }
    else { showPicker(); }
  })();
})();
