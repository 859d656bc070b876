// 回访 tasks of the logged-in RM (a supervisor also sees the branch's). Customer comments are
// only ever set with textContent.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  let csrf = "";

  async function api(path, body) {
    const init = { credentials: "same-origin" };
    if (body) { init.method = "POST"; init.body = JSON.stringify(body); init.headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf }; }
    const resp = await fetch(path, init);
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) { const err = new Error(data.message || "操作失败，请稍后重试。"); err.status = resp.status; throw err; }
    return data;
  }

  function notice(message) { const box = $("notice"); box.textContent = message; box.hidden = false; }

  function row(t) {
    const tr = el("tr");
    const due = el("td", t.overdue ? "overdue" : "", t.due_on + (t.overdue ? "（已逾期）" : ""));
    const action = el("td");
    const note = el("input"); note.placeholder = "回访情况（选填）"; note.maxLength = 1000;
    const done = el("button", "", "已回访"); const miss = el("button", "", "未联系上");
    const close = async (outcome) => {
      try { await api(`/console/api/callbacks/${t.id}`, { outcome, note: note.value }); tr.remove(); }
      catch (e) { notice(e.message); }
    };
    done.addEventListener("click", () => close("done"));
    miss.addEventListener("click", () => close("unreachable"));
    action.append(note, done, miss);
    tr.append(el("td", "", t.customer), el("td", "", t.phone), el("td", "", t.survey),
      el("td", "", `${t.scale}：${t.score}`), el("td", "", t.comments.join("；") || "—"), due, action);
    return tr;
  }

  async function main() {
    try {
      csrf = (await api("/console/api/me")).csrf;
      const tasks = (await api("/console/api/callbacks")).callbacks;
      const tbody = $("tasks").querySelector("tbody");
      if (!tasks.length) { const tr = el("tr"); const td = el("td", "", "暂无待回访的客户。"); td.colSpan = 7; tr.append(td); tbody.append(tr); }
      for (const t of tasks) tbody.append(row(t));
    } catch (e) { notice(e.status === 401 ? "请先在工作台登录。" : e.message); }
  }
  main();
})();
