// RM console. Everything the customer wrote is untrusted: it is only ever set with textContent.
// The list and the open transcript arrive over /console/ws; actions are JSON POSTs carrying the
// session's CSRF token.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  const WHO = { customer: "客户", bot: "小农（机器人）", rm: "客户经理", system: "系统", campaign: "关怀消息" };
  const QUICK = ["您好，我是您的客户经理，很高兴为您服务。", "请稍等，我帮您查询一下。", "您反映的问题我已记录，会尽快给您答复。", "还有其他可以帮您的吗？", "感谢您的耐心等待！"];
  let me = null, csrf = "", socket = null, current = null, lastId = 0, retry = 1000;
  // One key per reply, kept until the server has it: a double click or a retry after a lost
  // response sends the message once. (getRandomValues also works on plain-http intranet hosts.)
  let pendingReply = null;
  const newKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  const seen = new Set();
  // Stored values never reach the screen in English (#21).
  const ZH = {
    ticket: { open: "待处理", processing: "处理中", resolved: "已解决", closed: "已关闭" },
    kind: { complaint: "投诉", message: "留言", loss_report: "挂失", appointment: "预约", callback: "回电" },
    account: { normal: "正常", lost: "已挂失", frozen: "已冻结", active: "正常", dormant: "久悬" },
    delivery: { planned: "待发送", deferred: "延后发送", sending: "发送中", sent: "已发送", suppressed: "未发送（规则拦截）", failed: "发送失败，将重试", dead: "发送失败" },
    channel: { wechat: "微信", web: "网页", sms: "短信" },
    reason: { fraud: "疑似诈骗，优先处理", complaint: "投诉", request_human: "客户要求人工" },
  };
  const zh = (group, value) => (ZH[group] && ZH[group][value]) || value;
  let timeZone = "Asia/Shanghai";
  // Urgent first: fraud, complaints, VIPs and long waits (5 minutes or more).
  const LONG_WAIT_S = 300;
  const isUrgent = (r) => r.state === "queued" && (r.priority >= 5 || /诈骗|投诉|fraud|complaint/.test(r.reason || "")
    || r.tier === "贵宾" || r.tier === "私行" || r.waited_s >= LONG_WAIT_S);
  const alerted = new Set();
  let audio = null;
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.15;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.3);
    } catch (_) { /* no sound available */ }
  }
  function alertUrgent(rows) {
    const fresh = rows.filter((r) => isUrgent(r) && !alerted.has(r.id));
    fresh.forEach((r) => alerted.add(r.id));
    if (!fresh.length || !document.hidden) return;
    beep();
    if ("Notification" in window && Notification.permission === "granted") {
      const r = fresh[0];
      new Notification("紧急会话待接入", { body: `${r.customer}：${zh("reason", r.reason) || "请尽快处理"}`, tag: `urgent-${r.id}` });
    }
    window.__urgentAlerts = (window.__urgentAlerts || 0) + fresh.length;
  }

  async function api(path, options = {}) {
    const headers = { "Content-Type": "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const resp = await fetch(path, { credentials: "same-origin", ...options, headers });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) { const err = new Error(data.message || "操作失败，请重试。"); err.status = resp.status; err.code = data.error; throw err; }
    return data;
  }
  const post = (path, body) => api(path, { method: "POST", body: JSON.stringify(body || {}) });
  const mins = (s) => (s < 60 ? `${s}秒` : `${Math.floor(s / 60)}分${s % 60}秒`);

  // --- login: password, then the 6-digit code when a second factor is on ---------------------
  // A supervisor without a second factor gets an enrolment-only session and sets one up first.
  const show = (id) => { for (const s of ["login", "enrol", "app"]) $(s).hidden = s !== id; };
  function askCode() {
    show("login"); $("login-form").hidden = true; $("code-form").hidden = false;
    $("login-code").value = ""; $("login-code").focus();
  }
  async function afterPassword(next) {
    if (next === "totp") askCode();
    else if (next === "enrol") await enrol(true);
    else await start();
  }
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    try {
      const data = await post("/console/api/login", { login: $("login-name").value.trim(), password: $("login-password").value });
      csrf = data.csrf;
      $("login-password").value = "";
      await afterPassword(data.next);
    } catch (err) { $("login-error").textContent = err.message; }
  });
  $("code-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("code-error").textContent = "";
    try {
      const data = await post("/console/api/login/totp", { code: $("login-code").value.trim() });
      csrf = data.csrf;
      await start();
    } catch (err) {
      if (err.code === "login_required") { $("code-form").hidden = true; $("login-form").hidden = false; $("login-error").textContent = err.message; }
      else $("code-error").textContent = err.message;
    }
  });

  // --- second factor enrolment (required for supervisors, offered to RMs) ----------------------
  let enrolRequired = false;
  async function enrol(required) {
    enrolRequired = required;
    show("enrol");
    $("enrol-why").hidden = !required;
    $("enrol-cancel").textContent = required ? "退出登录" : "暂不设置";
    $("enrol-error").textContent = ""; $("enrol-code").value = "";
    try {
      const data = await post("/console/api/totp/setup");
      $("totp-qr").src = data.qr; $("totp-qr").hidden = false;
      $("totp-secret").textContent = data.secret.replace(/(.{4})/g, "$1 ").trim();
      $("totp-uri").textContent = data.uri;
      $("enrol-code").focus();
    } catch (err) { $("enrol-error").textContent = err.message; }
  }
  $("enrol-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("enrol-error").textContent = "";
    try {
      const data = await post("/console/api/totp/confirm", { code: $("enrol-code").value.trim() });
      csrf = data.csrf;
      $("totp-qr").src = ""; $("totp-secret").textContent = ""; $("totp-uri").textContent = "";
      if (enrolRequired) await start();
      else { show("app"); $("totp-open").hidden = true; $("totp-off").hidden = false; }
    } catch (err) { $("enrol-error").textContent = err.message; }
  });
  $("enrol-cancel").addEventListener("click", async () => {
    if (!enrolRequired) { show("app"); return; }
    try { await post("/console/api/logout"); } finally { location.reload(); }
  });
  $("totp-open").addEventListener("click", () => enrol(false));
  $("totp-off").addEventListener("click", async () => {
    const code = window.prompt("关闭两步验证：请输入手机验证器上当前的 6 位验证码");
    if (!code) return;
    try { await post("/console/api/totp/disable", { code }); $("totp-off").hidden = true; $("totp-open").hidden = false; }
    catch (err) { window.alert(err.message); }
  });
  $("logout").addEventListener("click", async () => {
    try { await post("/console/api/logout"); } finally { if (socket) { socket.onclose = null; socket.close(); } location.reload(); }
  });

  async function start() {
    me = await api("/console/api/me");
    csrf = me.csrf;
    if (me.timezone) timeZone = me.timezone;
    show("app");
    // Browsers ask for notification permission only after a click on the page.
    document.addEventListener("click", () => {
      if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
    }, { once: true });
    api("/console/api/totp").then((t) => { $("totp-open").hidden = t.enabled; $("totp-off").hidden = !t.enabled || t.required; }).catch(() => {});
    $("who").textContent = `${me.name}（${me.role === "supervisor" ? "主管" : "客户经理"} ${me.code}）`;
    $("tab-stats").hidden = me.role !== "supervisor";
    $("branch-title").hidden = me.role !== "supervisor";
    for (const q of QUICK) {
      const b = el("button", "", q.length > 10 ? q.slice(0, 10) + "…" : q);
      b.type = "button"; b.title = q;
      b.addEventListener("click", () => { $("reply-text").value = q; $("reply-text").focus(); });
      $("quick").append(b);
    }
    connect();
    loadRms();
  }

  // --- live list -----------------------------------------------------------------------------
  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${proto}://${location.host}/console/ws`);
    socket.onopen = () => { retry = 1000; $("live").textContent = "在线"; if (current) watch(); };
    socket.onmessage = (ev) => { try { onSnapshot(JSON.parse(ev.data)); } catch (_) { /* ignore */ } };
    socket.onclose = () => { $("live").textContent = "重新连接中…"; setTimeout(connect, retry); retry = Math.min(retry * 2, 15000); };
  }
  function watch() { if (socket && socket.readyState === 1) socket.send(JSON.stringify({ watch: current || 0, after: lastId })); }

  function onSnapshot(data) {
    renderList(data.conversations || []);
    const w = data.watch;
    if (w && w.id === current) {
      if (w.gone) { closeConversation(leaving[w.id] || "会话已不在您的权限范围内（可能已被转走）。"); return; }
      (w.messages || []).forEach(renderMessage);
      $("customer-typing").hidden = !w.customer_typing;
      for (const [id, d] of Object.entries(w.deliveries || {})) showDelivery(id, d);
      if (w.conversation) renderBar(w.conversation);
    }
  }

  function renderList(rows) {
    const groups = { queued: [], mine: [], branch: [] };
    rows = rows.slice().sort((a, b) => (isUrgent(b) - isUrgent(a)) || ((b.priority || 0) - (a.priority || 0)) || ((b.waited_s || 0) - (a.waited_s || 0)));
    alertUrgent(rows);
    for (const r of rows) (r.state === "queued" ? groups.queued : r.mine ? groups.mine : groups.branch).push(r);
    for (const [key, items] of Object.entries(groups)) {
      const ul = $(key);
      ul.textContent = "";
      for (const r of items) {
        const li = el("li", (r.id === current ? "selected" : "") + (isUrgent(r) ? " urgent" : ""));
        li.dataset.id = r.id;
        li.dataset.state = r.state;
        const title = el("div", "", r.customer);
        if (r.tier === "贵宾" || r.tier === "私行") title.append(el("span", "tag vip", r.tier));
        if (r.fraud) title.append(el("span", "tag fraud", "反诈"));
        if (isUrgent(r)) title.append(el("span", "tag urgent", "紧急"));
        if (r.reason) title.append(el("span", "tag", zh("reason", r.reason)));
        const meta = el("div", "meta", r.state === "queued" ? `已等待 ${mins(r.waited_s)} · ${r.channel === "wechat" ? "微信" : "网页"}`
          : `${r.state_label}${r.rm ? " · " + r.rm : ""}${r.awaiting_s != null ? " · 客户等待回复 " + mins(r.awaiting_s) : ""}`);
        const last = el("div", "meta", r.last_text);
        li.append(title, meta, last);
        li.addEventListener("click", () => openConversation(r.id));
        ul.append(li);
      }
      if (key !== "branch") $(`${key}-count`).textContent = items.length;
    }
  }

  // --- one conversation ------------------------------------------------------------------------
  async function openConversation(id) {
    $("action-error").textContent = "";
    try {
      const data = await api(`/console/api/conversations/${id}`);
      current = id; lastId = 0; seen.clear();
      $("transcript").textContent = "";
      $("empty").hidden = true; $("conversation").hidden = false;
      data.messages.forEach(renderMessage);
      renderBar(data.conversation);
      renderCustomer(data.customer, data.records);
      renderNotes(data.notes);
      document.querySelectorAll(".list li").forEach((li) => li.classList.toggle("selected", Number(li.dataset.id) === id));
      showPane("chat");
      watch();
    } catch (err) { $("action-error").textContent = err.message; }
  }
  // Tell the customer the RM is typing, at most every two seconds (#21).
  let typingSent = 0;
  $("reply-text").addEventListener("input", () => {
    const now = Date.now();
    if (current && socket && socket.readyState === 1 && now - typingSent > 2000) {
      typingSent = now;
      socket.send(JSON.stringify({ typing: current }));
    }
  });
  function closeConversation(message) {
    current = null; lastId = 0;
    $("conversation").hidden = true; $("empty").hidden = false; $("empty").textContent = message || "请从左侧选择一个会话。";
    watch();
  }

  function renderBar(c) {
    $("conv-title").textContent = `${c.customer}（${c.channel === "wechat" ? "微信" : "网页"}）`;
    if (c.fraud) $("conv-title").append(el("span", "tag fraud", "反诈"));
    $("conv-state").textContent = c.state_label;
    const own = c.mine && c.state === "agent";
    $("take").hidden = c.state !== "queued";
    for (const id of ["transfer", "transfer-to", "handback", "reply-send"]) $(id).disabled = !own;
    $("close").disabled = !(own || (c.state === "queued" && me.role === "supervisor"));
    $("reply-text").disabled = !own;
  }

  function renderMessage(m) {
    if (seen.has(m.id)) return;
    seen.add(m.id);
    lastId = Math.max(lastId, m.id);
    const li = el("li", `${m.direction} ${m.author}`);
    li.dataset.id = m.id;
    // Local date and time of the bank (the TIMEZONE setting), whatever the RM's device says.
    const time = new Date(m.created_at).toLocaleString("zh-CN", { timeZone, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });
    const who = el("span", "who", `${WHO[m.author] || "系统"} · ${time}`);
    if (m.direction === "out" && m.author !== "campaign" && m.delivery !== "delivered") {
      const state = el("span", "delivery", m.delivery_label);
      state.dataset.state = m.delivery;
      who.append(state);
    }
    li.append(who, el("span", "text", m.text));
    if (m.buttons && m.buttons.length) li.append(el("span", "who", `选项：${m.buttons.join(" / ")}`));
    $("transcript").append(li);
    li.scrollIntoView({ block: "end" });
  }

  // Delivery states change after a message is shown (sent, outside the 48-hour window, ...).
  function showDelivery(id, d) {
    const span = $("transcript").querySelector(`li[data-id="${Number(id)}"] .delivery`);
    if (span && span.dataset.state !== d.delivery) { span.textContent = d.delivery_label; span.dataset.state = d.delivery; }
  }

  function renderCustomer(c, records) {
    const box = $("customer");
    box.textContent = "";
    if (!c.bound) { box.append(el("p", "", "访客未绑定账户，无法查看客户资料。")); return; }
    const dl = el("dl");
    const add = (k, v) => { dl.append(el("dt", "", k), el("dd", "", v)); };
    add("姓名", c.name); add("手机", c.phone); add("类型", `${c.kind} · ${c.occupation}`); add("乡镇", c.town);
    add("价值层级", c.tier); add("金融资产", c.aum); add("归属经理", c.rm || "未分配");
    for (const [k, v] of Object.entries(c.segments || {})) add(`分群:${k}`, v);
    add("定期存款", `${c.deposits.count} 笔，合计 ${c.deposits.total}`);
    box.append(dl);
    const section = (title, items, fmt) => {
      box.append(el("h3", "", title));
      const ul = el("ul");
      if (!items.length) ul.append(el("li", "", "无"));
      for (const it of items) ul.append(el("li", "", fmt(it)));
      box.append(ul);
    };
    section("账户", c.accounts, (a) => `${a.kind} ${a.no}：${a.balance}${a.status === "normal" ? "" : "（" + zh("account", a.status) + "）"}`);
    section("贷款", c.loans, (l) => `${l.no} 余额 ${l.outstanding}，到期 ${l.end_on}`);
    section("未结工单", c.tickets, (t) => `${t.ref} ${zh("kind", t.kind)} · ${zh("ticket", t.status)} · ${t.created}`);
    section("近期关怀消息", c.deliveries, (d) => `${d.campaign} · ${zh("channel", d.channel)} · ${zh("delivery", d.status)} · ${d.at}`);
    renderLeads(box, c.leads || []);
    if (records) {
      section("挂失记录", records.loss_reports, (r) => `${r.ref} · ${r.card} · ${r.at}`);
      section("网点预约", records.appointments, (a) => `${a.ref} · ${a.on} ${a.window || "全天"} ${a.branch} · ${a.service} · ${a.status}`);
      section("全部工单", records.tickets, (t) => `${t.ref} · ${t.kind} · ${t.status} · ${t.at}` + (t.resolution ? ` · 处理结果：${t.resolution}` : ""));
    }
    const more = el("a", "", "查看该客户的历史会话 →");
    more.href = "/console/history";
    box.append(more);
  }

  // Leads (#23): what the customer's words suggested (trigger words masked when stored); the RM records the outcome.
  function renderLeads(box, leads) {
    box.append(el("h3", "", "商机线索"));
    const ul = el("ul", "leads");
    if (!leads.length) ul.append(el("li", "", "无"));
    for (const l of leads) {
      const li = el("li", "lead", `${l.product_name} · ${l.status_name} · 触发词：${l.trigger_words || "—"}`);
      li.dataset.lead = l.id;
      if (l.status === "open") {
        for (const [status, label] of [["won", "已成交"], ["lost", "未成交"], ["not_interested", "无意向"]]) {
          const btn = el("button", "secondary lead-" + status, label);
          btn.type = "button";
          btn.addEventListener("click", async () => {
            try {
              await post(`/console/api/leads/${Number(l.id)}/outcome`, { status });
              li.textContent = `${l.product_name} · ${label} · 触发词：${l.trigger_words || "—"}`;
            } catch (e) { li.append(el("span", "error", ` ${e.message}`)); }
          });
          li.append(" ", btn);
        }
      }
      ul.append(li);
    }
    box.append(ul);
  }

  function renderNotes(notes) {
    const ul = $("notes");
    ul.textContent = "";
    for (const n of notes) { const li = el("li", "", n.text); li.append(el("small", "", ` —— ${n.rm}`)); ul.append(li); }
  }

  async function act(name, body) {
    if (!current) return null;
    $("action-error").textContent = "";
    try { return await post(`/console/api/conversations/${current}/${name}`, body); }
    catch (err) { $("action-error").textContent = err.message; return null; }
  }
  $("take").addEventListener("click", async () => { if (await act("take")) openConversation(current); });
  // After the RM's own hand back or close the conversation leaves their view: say what happened.
  const leaving = {};
  async function leave(name, message) {
    const id = current;
    leaving[id] = message;
    if (await act(name)) closeConversation(message); else delete leaving[id];
  }
  $("handback").addEventListener("click", () => leave("handback", "已交回机器人，客户会收到满意度评价邀请。"));
  $("close").addEventListener("click", () => { if (confirm("确定结束这个会话吗？")) leave("close", "会话已结束，已邀请客户评价。"); });
  $("transfer").addEventListener("click", async () => {
    const to = Number($("transfer-to").value);
    if (to && await act("transfer", { rm_id: to })) closeConversation("会话已转接。");
  });
  $("reply-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = $("reply-text").value.trim();
    if (!text || $("reply-send").dataset.busy) return;
    if (!pendingReply || pendingReply.text !== text || pendingReply.conv !== current) pendingReply = { text, conv: current, key: newKey() };
    $("reply-send").dataset.busy = "1";
    try {
      const sent = await act("reply", { text, key: pendingReply.key });
      if (sent) {
        pendingReply = null;
        $("reply-text").value = "";
        showDelivery(sent.id, sent);
      }
    } finally { delete $("reply-send").dataset.busy; }
  });
  $("reply-text").addEventListener("keydown", (ev) => { if (ev.key === "Enter" && ev.ctrlKey) $("reply-form").requestSubmit(); });
  $("note-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = $("note-text").value.trim();
    if (text && await act("note", { text })) { $("note-text").value = ""; openConversation(current); }
  });

  async function loadRms() {
    const data = await api("/console/api/rms");
    const sel = $("transfer-to");
    sel.textContent = "";
    sel.append(el("option", "", "转给…"));
    sel.firstChild.value = "";
    for (const r of data.rms) {
      const o = el("option", "", `${r.name}（${r.code}）${r.online ? " 在线" : " 离线"}`);
      o.value = r.id;
      sel.append(o);
    }
  }

  // --- phones: one column at a time (队列 / 会话 / 客户) ---------------------------------------------
  function showPane(name) {
    $("work").dataset.pane = name;
    document.querySelectorAll("#panes button").forEach((b) => b.classList.toggle("active", b.dataset.pane === name));
  }
  document.querySelectorAll("#panes button").forEach((b) => b.addEventListener("click", () => showPane(b.dataset.pane)));

  // --- supervisor view ---------------------------------------------------------------------------
  $("tab-work").addEventListener("click", () => showTab("work"));
  $("tab-stats").addEventListener("click", () => showTab("stats"));
  let statsTimer = null;
  function showTab(name) {
    $("work").hidden = name !== "work"; $("stats").hidden = name !== "stats";
    $("tab-work").classList.toggle("active", name === "work"); $("tab-stats").classList.toggle("active", name === "stats");
    clearInterval(statsTimer);
    if (name === "stats") { loadStats(); statsTimer = setInterval(loadStats, 10000); }
  }

  async function loadStats() {
    const s = await api("/console/api/stats");
    $("s-queue").textContent = s.queue_length;
    $("s-maxwait").textContent = mins(s.max_wait_s);
    $("s-avgwait").textContent = s.avg_wait_to_take_s == null ? "—" : mins(s.avg_wait_to_take_s);
    const tbody = $("per-rm").querySelector("tbody");
    tbody.textContent = "";
    for (const r of s.per_rm) {
      const tr = el("tr");
      for (const v of [r.name, r.online ? "在线" : "离线", r.active, r.handled, r.avg_score == null ? "—" : r.avg_score]) tr.append(el("td", "", String(v)));
      tbody.append(tr);
    }
    barChart($("chart-waits"), s.waits_s.map((w, i) => ({ label: `#${i + 1}`, value: w })), null);
    barChart($("chart-satisfaction"), s.satisfaction.map((d) => ({ label: d.day, value: d.avg || 0, note: d.count })), 5);
  }

  // Inline SVG bar chart: no chart library, nothing downloaded.
  function barChart(box, points, max) {
    const NS = "http://www.w3.org/2000/svg";
    const W = 640, H = 180, pad = 24;
    box.textContent = "";
    if (!points.length) { box.append(el("p", "", "暂无数据")); return; }
    const top = max || Math.max(1, ...points.map((p) => p.value));
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("width", "100%"); svg.setAttribute("role", "img");
    const bw = (W - pad * 2) / points.length;
    points.forEach((p, i) => {
      const h = ((H - pad * 2) * p.value) / top;
      const r = document.createElementNS(NS, "rect");
      r.setAttribute("x", pad + i * bw + 2); r.setAttribute("y", H - pad - h);
      r.setAttribute("width", Math.max(2, bw - 4)); r.setAttribute("height", h); r.setAttribute("fill", "#0b6b3a");
      const t = document.createElementNS(NS, "title"); t.textContent = `${p.label}: ${p.value}${p.note != null ? `（${p.note} 条）` : ""}`;
      r.append(t);
      const lab = document.createElementNS(NS, "text");
      lab.setAttribute("x", pad + i * bw + bw / 2); lab.setAttribute("y", H - 6); lab.setAttribute("font-size", "10");
      lab.setAttribute("text-anchor", "middle"); lab.textContent = p.label;
      svg.append(r, lab);
    });
    box.append(svg);
  }

  // --- boot --------------------------------------------------------------------------------------
  (async () => {
    try { await start(); } catch (err) {
      if (err.code === "totp_required") askCode();
      else if (err.code === "totp_enrolment_required") await enrol(true);
      else { show("login"); $("login-name").focus(); }
    }
  })();
})();
