// Care campaign reports (supervisors only): the list of campaigns, or one campaign with a chart.
// Campaign names come from staff-written YAML, so they too are only ever set with textContent.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = { delivered: "#2e7d32", pending: "#90a4ae", deferred: "#f9a825", suppressed: "#8d6e63", failed: "#c62828", replied: "#1565c0", opted_out: "#6a1b9a" };
  const num = (n) => Number(n).toLocaleString("zh-CN");

  async function api(path) {
    const resp = await fetch(path, { credentials: "same-origin" });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) { const err = new Error(data.message || "加载失败，请稍后重试。"); err.status = resp.status; throw err; }
    return data;
  }

  function notice(message, withLogin) {
    const box = $("notice");
    box.textContent = message;
    if (withLogin) {
      const a = el("a", "", "前往工作台登录");
      a.href = "/console";
      box.append(" ", a);
    }
    box.hidden = false;
  }

  function showList(campaigns) {
    $("list").hidden = false;
    const keys = campaigns.length ? campaigns[0].metrics : [];
    const head = $("campaign-table").querySelector("thead tr");
    for (const m of keys) head.append(el("th", "num", m.label));
    const tbody = $("campaign-table").querySelector("tbody");
    if (!campaigns.length) {
      const tr = el("tr"); const td = el("td", "", "还没有关怀活动（运行 bankcare care load 导入）。");
      td.colSpan = 3; tr.append(td); tbody.append(tr); return;
    }
    for (const c of campaigns) {
      const tr = el("tr");
      tr.dataset.code = c.code;
      const name = el("td");
      const a = el("a", "", c.name);
      a.href = `/console/campaigns/${encodeURIComponent(c.code)}`;
      name.append(a, el("span", "code", c.code));
      tr.append(name, el("td", "", c.kind_label + (c.is_marketing ? "（营销）" : "") + (c.active ? "" : "，已停用")), el("td", "num", num(c.total)));
      for (const m of c.metrics) { const td = el("td", "num", num(m.value)); td.dataset.key = m.key; tr.append(td); }
      tbody.append(tr);
    }
  }

  function rows(table, items) {
    const tbody = $(table).querySelector("tbody");
    tbody.textContent = "";
    for (const [key, label, value] of items) {
      const tr = el("tr");
      if (key) tr.dataset.key = key;
      tr.append(el("th", "", label), el("td", "", value));
      tbody.append(tr);
    }
  }

  function showDetail(r) {
    $("detail").hidden = false;
    document.title = `${r.name} · 关怀活动报表`;
    $("title").textContent = r.name;
    $("subtitle").textContent = `${r.code} · ${r.kind_label}${r.is_marketing ? " · 营销类（需客户同意，受频次限制）" : " · 服务类"} · 计划 ${num(r.total)} 条`;
    rows("numbers", r.metrics.map((m) => [m.key, m.label, num(m.value)]));
    rows("reasons", r.suppressed.length ? r.suppressed.map((s) => [s.reason, s.label, num(s.value)]) : [["", "无", "—"]]);
    if (r.variants.length) {
      $("variants-box").hidden = false;
      const tbody = $("variants").querySelector("tbody");
      for (const v of r.variants) {
        const tr = el("tr");
        const rate = v.delivered ? `${((100 * v.replied) / v.delivered).toFixed(1)}%` : "—";
        tr.append(el("th", "", v.variant), el("td", "", num(v.delivered)), el("td", "", num(v.replied)), el("td", "", rate));
        tbody.append(tr);
      }
    }
    // Empty charts say so instead of drawing a blank frame (#21).
    const empty = r.metrics.every((m) => !m.value);
    $("chart-empty").hidden = !empty;
    $("chart").hidden = empty;
    if (!empty) chart($("chart"), r.metrics);
    outlook(r.code);
  }

  let csrf = "";
  // What happens next: planning and sending times, today's audience, a masked sample, conversion.
  async function outlook(code) {
    let o;
    try { o = await api(`/console/api/campaigns/${encodeURIComponent(code)}/outlook`); }
    catch (err) { $("o-state").textContent = err.message; return; }
    $("o-state").textContent = o.active ? "进行中" : "已暂停";
    $("o-plan").textContent = o.active ? `${o.next_planning}（每天自动计划）` : "暂停中，不计划";
    $("o-send").textContent = o.next_sending ? `${o.next_sending}（${o.next_sending_note}）` : o.next_sending_note;
    $("o-audience").textContent = o.active ? `今天符合条件并可发送 ${num(o.audience_today)} 人（共评估 ${num(o.considered_today)} 人）` : "暂停中";
    $("o-sample").textContent = o.sample ? `发给 ${o.sample.customer}：\n${o.sample.text}` : "今天没有符合条件的客户，暂无示例。";
    const c = o.conversion;
    $("o-conversion").textContent = c ? `${c.text}（对照组为随机留出、未发送的客户）`
      : o.product_code ? `推广产品 ${o.product_code} 不在产品目录中，无法统计转化。` : "本活动没有推广产品，不统计转化。";
    const btn = $("o-toggle");
    btn.hidden = false;
    btn.textContent = o.active ? "暂停活动" : "恢复活动";
    btn.onclick = async () => {
      const resp = await fetch(`/console/api/campaigns/${encodeURIComponent(code)}/${o.active ? "pause" : "resume"}`,
        { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: "{}" });
      const data = await resp.json().catch(() => ({}));
      $("o-feedback").textContent = data.message || "操作失败，请稍后重试。";
      if (resp.ok) outlook(code);
    };
  }

  // Inline SVG bar chart with the value above each bar and the Chinese label below it.
  function chart(box, metrics) {
    const W = 720, H = 260, top = 28, bottom = 32, side = 16;
    const max = Math.max(1, ...metrics.map((m) => m.value));
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("width", "100%"); svg.setAttribute("role", "img");
    const title = document.createElementNS(NS, "title"); title.textContent = "活动结果"; svg.append(title);
    const bw = (W - side * 2) / metrics.length;
    metrics.forEach((m, i) => {
      const h = ((H - top - bottom) * m.value) / max;
      const x = side + i * bw;
      const bar = document.createElementNS(NS, "rect");
      bar.setAttribute("x", x + 8); bar.setAttribute("y", H - bottom - h);
      bar.setAttribute("width", Math.max(2, bw - 16)); bar.setAttribute("height", h);
      bar.setAttribute("fill", COLORS[m.key] || "#0b6b3a");
      bar.dataset.key = m.key; bar.dataset.value = m.value;
      const tip = document.createElementNS(NS, "title"); tip.textContent = `${m.label}：${num(m.value)}`; bar.append(tip);
      const value = document.createElementNS(NS, "text");
      value.setAttribute("x", x + bw / 2); value.setAttribute("y", H - bottom - h - 6);
      value.setAttribute("text-anchor", "middle"); value.setAttribute("font-size", "13");
      value.textContent = num(m.value);
      const label = document.createElementNS(NS, "text");
      label.setAttribute("x", x + bw / 2); label.setAttribute("y", H - 10);
      label.setAttribute("text-anchor", "middle"); label.setAttribute("font-size", "13");
      label.textContent = m.label;
      svg.append(bar, value, label);
    });
    box.textContent = "";
    box.append(svg);
  }

  (async () => {
    try {
      const me = await api("/console/api/me");
      csrf = me.csrf;
      $("who").textContent = `${me.name}（${me.role === "supervisor" ? "主管" : "客户经理"} ${me.code}）`;
      const match = location.pathname.match(/^\/console\/campaigns\/([^/]+)$/);
      if (match) showDetail(await api(`/console/api/campaigns/${match[1]}`));
      else showList((await api("/console/api/campaigns")).campaigns);
    } catch (err) {
      notice(err.status === 401 ? "请先登录客户经理工作台。" : err.message, err.status === 401);
    }
  })();
})();
