"use strict";
// The work queue (工单): list with filters, assign, move, resolve with a note, reveal a callback number.
// Everything the customer wrote is shown with textContent.
(function () {
  const $ = (id) => document.getElementById(id);
  let csrf = "";
  let me = null;
  let rms = [];
  const revealed = {};

  function notice(text, isError) {
    const el = $("notice");
    el.textContent = text;
    el.classList.toggle("error", !!isError);
    el.hidden = !text;
  }

  async function api(path, body) {
    const init = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    };
    const resp = await fetch(path, init);
    let data = {};
    try { data = await resp.json(); } catch (e) { data = {}; }
    if (!resp.ok) {
      const err = new Error(data.message || "操作失败，请稍后重试。");
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function query() {
    const params = new URLSearchParams();
    for (const [id, key] of [["f-kind", "kind"], ["f-status", "status"], ["f-rm", "rm"], ["f-due", "due"], ["f-order", "order"]]) {
      if ($(id).value) params.set(key, $(id).value);
    }
    return params.toString();
  }

  async function act(path, body, done) {
    try {
      const data = await api(path, body);
      notice(data.message || "已保存。", false);
      if (done) done(data);
      await load();
    } catch (e) {
      notice(e.message, true);
    }
  }

  function card(t) {
    const li = el("li", "ticket" + (t.overdue ? " overdue" : ""));
    li.dataset.id = t.id;
    const head = el("div", "head");
    head.append(el("span", "ref", t.ref), el("span", "pill kind-" + t.kind, t.kind_label),
      el("span", "pill status", t.status_label));
    if (t.overdue) head.append(el("span", "pill late", "已超时"));
    li.append(head);
    const who = t.customer + (t.channel && t.bound ? "（" + t.channel + "）" : "");
    li.append(el("div", "meta", "客户：" + who + " · 负责：" + (t.rm || "未分配") +
      (t.branch ? " · " + t.branch : "")));
    li.append(el("div", "meta", "提交：" + t.created + (t.due ? " · 应于 " + t.due + " 前处理" : "")));
    if (t.visit) {  // an appointment: the day and the window the customer chose, apart
      const visit = el("div", "meta visit", "预约到店：");
      const day = el("span", "visit-day", t.visit.day);
      day.dataset.date = t.visit.date;
      visit.append(day, " · ", el("span", "pill visit-window", t.visit.window_label));
      if (t.visit.status !== "已预约") visit.append(" · ", el("span", "pill late", t.visit.status));
      li.append(visit);
    }
    li.append(el("div", "content", t.content));
    if (t.callback_masked) {
      const line = el("div", "meta", "回电号码：");
      const phone = el("span", "phone", revealed[t.id] || t.callback_masked);
      line.append(phone);
      if (t.can_reveal) {
        const btn = el("button", "secondary reveal", "查看完整号码");
        btn.type = "button";
        btn.addEventListener("click", () => act("/console/api/tickets/" + t.id + "/reveal", {}, (d) => {
          revealed[t.id] = d.phone;  // kept for this page only; every reveal is audited
        }));
        line.append(" ", btn);
      }
      li.append(line);
    }
    if (t.resolution) li.append(el("div", "resolution", "处理结果：" + t.resolution + (t.resolved ? "（" + t.resolved + "）" : "")));
    const actions = el("div", "actions");
    if (t.status !== "closed") {
      const pick = el("select", "assign-to");
      pick.setAttribute("aria-label", "分配给");
      for (const r of rms) {
        const opt = el("option", "", r.name + (r.id === me.id ? "（我）" : ""));
        opt.value = r.id;
        if (r.id === t.rm_id) opt.selected = true;
        pick.append(opt);
      }
      const assign = el("button", "secondary", t.rm_id ? "改派" : "分配");
      assign.type = "button";
      assign.addEventListener("click", () => act("/console/api/tickets/" + t.id + "/assign", { rm_id: Number(pick.value) }));
      actions.append(pick, assign);
    }
    if (t.mine || me.role === "supervisor") {
      if (t.status === "open") actions.append(statusButton(t, "processing", "开始处理"));
      if (t.active) {
        const note = el("textarea", "resolution-text");
        note.placeholder = "处理结果（会发给客户）";
        note.maxLength = 1000;
        const resolve = el("button", "resolve", "标记已解决并通知客户");
        resolve.type = "button";
        resolve.addEventListener("click", () => act("/console/api/tickets/" + t.id + "/status",
          { status: "resolved", resolution: note.value }));
        actions.append(note, resolve);
      }
      if (t.status !== "closed") actions.append(statusButton(t, "closed", "关闭工单"));
    }
    li.append(actions);
    return li;
  }

  function statusButton(t, status, label) {
    const btn = el("button", "secondary", label);
    btn.type = "button";
    btn.addEventListener("click", () => act("/console/api/tickets/" + t.id + "/status", { status: status }));
    return btn;
  }

  // 回访 tasks (survey call-backs, #24) sit in the same queue: kind 回访, due day, closed here.
  function callbackCard(c) {
    const li = el("li", "ticket callback" + (c.overdue ? " overdue" : ""));
    li.dataset.callback = c.id;
    const head = el("div", "head");
    head.append(el("span", "pill kind-callback", "回访"), el("span", "pill status", c.status_zh));
    if (c.overdue) head.append(el("span", "pill late", "已超时"));
    li.append(head);
    li.append(el("div", "meta", "客户：" + c.customer + " · " + c.phone + " · 应于 " + c.due_on + " 前回访"));
    li.append(el("div", "content", c.survey + "：" + c.scale + " " + c.score + " 分" +
      (c.comments.length ? " · 客户留言：" + c.comments.join("；") : "")));
    if (c.status === "open") {
      const actions = el("div", "actions");
      const note = el("textarea", "callback-note");
      note.placeholder = "回访记录（选填）";
      note.maxLength = 500;
      actions.append(note);
      for (const [outcome, label] of [["done", "已回访"], ["unreachable", "未联系上"]]) {
        const btn = el("button", outcome === "done" ? "callback-done" : "secondary callback-unreachable", label);
        btn.type = "button";
        btn.addEventListener("click", () => act("/console/api/callbacks/" + c.id, { outcome: outcome, note: note.value },
          () => notice("回访结果已记录。", false)));
        actions.append(btn);
      }
      li.append(actions);
    }
    return li;
  }

  // Leads (#23): the words that suggested a product (masked when stored) and the RM's outcome.
  function leadCard(l) {
    const li = el("li", "ticket lead");
    li.dataset.lead = l.id;
    const head = el("div", "head");
    head.append(el("span", "pill kind-lead", "商机"), el("span", "pill", l.product_name), el("span", "pill status", l.status_name));
    li.append(head);
    li.append(el("div", "meta", "触发词：" + (l.trigger_words || "—") + " · " + l.created_at.slice(0, 10)));
    li.append(el("div", "content", l.text));
    if (l.status === "open") {
      const actions = el("div", "actions");
      for (const [status, label] of [["won", "已成交"], ["lost", "未成交"], ["not_interested", "无意向"]]) {
        const btn = el("button", "secondary lead-" + status, label);
        btn.type = "button";
        btn.addEventListener("click", () => act("/console/api/leads/" + l.id + "/outcome", { status: status },
          () => notice("线索结果已记录。", false)));
        actions.append(btn);
      }
      li.append(actions);
    }
    return li;
  }

  async function loadExtras() {
    const [cb, ld] = await Promise.all([api("/console/api/callbacks"), api("/console/api/leads")]);
    $("callbacks").replaceChildren(...cb.callbacks.map(callbackCard));
    $("callbacks-box").hidden = cb.callbacks.length === 0;
    $("leads").replaceChildren(...ld.leads.map(leadCard));
    $("leads-box").hidden = ld.leads.length === 0;
  }

  async function load() {
    loadExtras().catch((e) => notice(e.message, true));
    const data = await api("/console/api/tickets?" + query());
    rms = data.rms;
    me = data.me;
    const list = $("tickets");
    list.replaceChildren(...data.tickets.map(card));
    const late = data.tickets.filter((t) => t.overdue).length;
    $("count").textContent = "共 " + data.tickets.length + " 条" + (late ? "，其中 " + late + " 条已超时" : "");
    $("empty").hidden = data.tickets.length > 0;
    return data;
  }

  async function start() {
    try {
      const who = await api("/console/api/me");
      csrf = who.csrf;
    } catch (e) {
      $("login-needed").hidden = false;
      return;
    }
    $("filters").hidden = false;
    const first = await load();
    for (const [value, label] of Object.entries(first.kinds)) {
      const opt = el("option", "", label);
      opt.value = value;
      $("f-kind").append(opt);
    }
    for (const r of first.rms) {
      const opt = el("option", "", r.name);
      opt.value = r.id;
      $("f-rm").append(opt);
    }
    $("filters").addEventListener("change", () => load().catch((e) => notice(e.message, true)));
  }

  start().catch((e) => notice(e.message, true));
})();
