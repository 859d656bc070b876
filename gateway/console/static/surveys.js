// Satisfaction survey reports (supervisors only). Texts from staff YAML and customers' comments
// are only ever set with textContent.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  const pct = (x) => (x === null || x === undefined) ? "—" : `${Math.round(x * 100)}%`;

  async function api(path) {
    const resp = await fetch(path, { credentials: "same-origin" });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) { const err = new Error(data.message || "加载失败，请稍后重试。"); err.status = resp.status; throw err; }
    return data;
  }

  function notice(message) { const box = $("notice"); box.textContent = message; box.hidden = false; }

  function showList(surveys) {
    $("list").hidden = false;
    const tbody = $("survey-table").querySelector("tbody");
    if (!surveys.length) { const tr = el("tr"); const td = el("td", "", "还没有调查（运行 bankcare care load 导入）。"); td.colSpan = 3; tr.append(td); tbody.append(tr); return; }
    for (const s of surveys) {
      const tr = el("tr"); const name = el("td"); const a = el("a", "", s.name);
      a.href = `/console/surveys/${encodeURIComponent(s.code)}`; name.append(a, el("span", "code", s.code));
      tr.append(name, el("td", "num", String(s.invitations)), el("td", "", s.active ? "进行中" : "已停用"));
      tbody.append(tr);
    }
  }

  function row(g) {
    const tr = el("tr");
    const nps = g.nps ? `${Math.round(g.nps.nps)}（${Math.round(g.nps.ci.low)}～${Math.round(g.nps.ci.high)}）` : "—";
    const mean = g.csat ? `${g.csat.mean.toFixed(2)}（${g.csat.mean_ci.low.toFixed(2)}～${g.csat.mean_ci.high.toFixed(2)}）` : "—";
    const sat = g.csat ? `${pct(g.csat.satisfied_share)}（${pct(g.csat.satisfied_ci.low)}～${pct(g.csat.satisfied_ci.high)}）` : "—";
    tr.append(el("td", "", g.label), el("td", "num", String(g.invited)), el("td", "num", String(g.responded)),
      el("td", "", pct(g.response_rate)), el("td", "", nps), el("td", "", mean), el("td", "", sat));
    return tr;
  }

  async function showDetail(code, by) {
    const q = by ? `?by=${encodeURIComponent(by)}` : "";
    const r = await api(`/console/api/surveys/${encodeURIComponent(code)}${q}`);
    $("detail").hidden = false;
    $("title").textContent = r.name;
    $("method").textContent = r.method;
    $("chart").src = `/console/api/surveys/${encodeURIComponent(code)}/chart.png${q}`;
    const tbody = $("groups").querySelector("tbody"); tbody.replaceChildren(row(r.overall));
    for (const g of r.groups) tbody.append(row(g));
    const cb = r.callbacks;
    $("callbacks").textContent = `需回访 ${cb.opened} 位，已完成 ${cb.closed} 位（按时完成 ${cb.in_time} 位），逾期未回访 ${cb.overdue_open} 位；之后再次参与调查 ${cb.compared} 位，其中评分提高 ${cb.improved} 位。`;
    const ul = $("topics"); ul.replaceChildren();
    for (const t of r.topics) {
      const li = el("li", "", `${t.topic}：${t.count} 条`);
      const sub = el("ul"); for (const e of t.examples) sub.append(el("li", "", e)); li.append(sub); ul.append(li);
    }
  }

  async function main() {
    const parts = location.pathname.split("/").filter(Boolean);
    try {
      if (parts.length >= 3) {
        const code = decodeURIComponent(parts[2]);
        $("by").addEventListener("change", () => showDetail(code, $("by").value).catch((e) => notice(e.message)));
        await showDetail(code, "");
      } else {
        showList((await api("/console/api/surveys")).surveys);
      }
    } catch (e) { notice(e.status === 401 ? "请先在工作台登录。" : e.message); }
  }
  main();
})();
