"use strict";
// Past conversations: search, then one transcript with local dates and times, ratings and the customer's records.
// Everything customers wrote is shown with textContent.
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const n = document.createElement(tag); if (cls) n.className = cls; if (text !== undefined && text !== null) n.textContent = text; return n; };
  let filled = false;

  async function api(path) {
    const resp = await fetch(path);
    let data = {};
    try { data = await resp.json(); } catch (e) { data = {}; }
    if (!resp.ok) { const err = new Error(data.message || "加载失败，请稍后重试。"); err.status = resp.status; throw err; }
    return data;
  }
  function notice(text) { $("notice").textContent = text || ""; $("notice").hidden = !text; }
  const stars = (r) => `${"★".repeat(r.score)}${"☆".repeat(5 - r.score)} ${r.score}分` + (r.comment ? `：${r.comment}` : "");

  // 2026/3/4, 2026.3.4 and 2026年3月4日 all mean 2026-03-04; anything else goes as typed and the server explains.
  function isoDate(text) {
    const m = text.trim().match(/^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$/);
    return m ? `${m[1]}-${m[2].padStart(2, "0")}-${m[3].padStart(2, "0")}` : text.trim();
  }

  function query() {
    const p = new URLSearchParams();
    for (const [id, key] of [["h-customer", "customer"], ["h-q", "q"], ["h-from", "from"], ["h-to", "to"], ["h-rm", "rm"], ["h-rating", "rating"]]) {
      const value = id === "h-from" || id === "h-to" ? isoDate($(id).value) : $(id).value.trim();
      if (value) p.set(key, value);
    }
    return p.toString();
  }

  async function load() {
    notice("");
    const data = await api("/console/api/history?" + query());
    if (!filled) {
      for (const r of data.rms) { const o = el("option", "", r.name); o.value = r.id; $("h-rm").append(o); }
      filled = true;
    }
    $("detail").hidden = true; $("results").hidden = false;
    $("count").textContent = data.conversations.length ? `共 ${data.conversations.length} 个会话` : "没有找到符合条件的会话。";
    $("results").replaceChildren(...data.conversations.map((c) => {
      const li = el("li", "ticket result");
      li.dataset.id = c.id;
      const head = el("div", "head");
      head.append(el("span", "ref", c.customer), el("span", "pill", c.channel));
      if (c.ratings.length) head.append(el("span", "stars", stars(c.ratings[c.ratings.length - 1])));
      li.append(head, el("div", "meta", `${c.started} 至 ${c.last} · ${c.messages} 条消息` + (c.rms.length ? ` · 客户经理：${c.rms.join("、")}` : "")));
      li.addEventListener("click", () => open(c.id).catch((e) => notice(e.message)));
      return li;
    }));
  }

  async function open(id) {
    const data = await api("/console/api/history/" + id);
    const c = data.conversation;
    $("d-title").textContent = `${c.customer}（${c.channel}） ${c.started}`;
    $("d-ratings").textContent = c.ratings.length ? "评价：" + c.ratings.map((r) => `${stars(r)}（${r.rm || "客户经理"}，${r.at}）`).join("；") : "本次会话没有评价。";
    $("d-messages").replaceChildren(...data.messages.map((m) => {
      const li = el("li", m.direction);
      li.append(el("span", "who", `${m.who} · ${m.at}`), el("span", "text", m.text));
      if (m.buttons.length) li.append(el("span", "who", "选项：" + m.buttons.join(" / ")));
      return li;
    }));
    const box = $("d-records");
    box.replaceChildren();
    if (data.records) {
      const section = (title, items, fmt) => {
        box.append(el("h3", "", title));
        const ul = el("ul");
        if (!items.length) ul.append(el("li", "", "无"));
        for (const it of items) ul.append(el("li", "", fmt(it)));
        box.append(ul);
      };
      section("挂失记录", data.records.loss_reports, (r) => `${r.ref} · ${r.card} · ${r.at}`);
      section("网点预约", data.records.appointments, (a) => `${a.ref} · ${a.on} ${a.window || "全天"} ${a.branch} · ${a.service} · ${a.status}`);
      section("工单", data.records.tickets, (t) => `${t.ref} · ${t.kind} · ${t.status} · ${t.at}` + (t.resolution ? ` · 处理结果：${t.resolution}` : ""));
    } else {
      box.append(el("p", "meta", "访客未绑定账户，没有客户记录。"));
    }
    $("results").hidden = true; $("detail").hidden = false;
  }

  $("search").addEventListener("submit", (ev) => { ev.preventDefault(); load().catch((e) => notice(e.message)); });
  $("d-back").addEventListener("click", () => { $("detail").hidden = true; $("results").hidden = false; });

  (async () => {
    try { await api("/console/api/me"); } catch (e) { $("login-needed").hidden = false; return; }
    $("search").hidden = false;
    await load();
  })().catch((e) => notice(e.message));
})();
