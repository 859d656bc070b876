// Voice of the customer (supervisors): gaps with one-step resolve, trends as HTML bars, alerts,
// leads and utterances to review. Every text is customer-derived: only ever set with textContent.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  let csrf = "";

  async function api(path, body) {
    const opts = { credentials: "same-origin" };
    if (body !== undefined) {
      opts.method = "POST";
      opts.headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf };
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(path, opts);
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) { const err = new Error(data.message || "加载失败，请稍后重试。"); err.status = resp.status; throw err; }
    return data;
  }

  function notice(message) { const box = $("notice"); box.textContent = message; box.hidden = false; }

  function bars(target, pairs) {
    const box = $(target); box.textContent = "";
    if (!pairs.length) { box.append(el("p", "empty", "暂无数据")); return; }
    const max = Math.max(...pairs.map((p) => p[1]));
    for (const [label, value] of pairs.slice(0, 12)) {
      const row = el("div", "row");
      const bar = el("div", "bar"); bar.style.width = `${Math.round((100 * value) / max)}%`;
      const lab = el("span", "label", label); lab.title = label;
      row.append(lab, el("div", "", ""), el("span", "", String(value)));
      row.children[1].append(bar);
      box.append(row);
    }
  }
  const byInner = (nested) => { const out = {}; for (const v of Object.values(nested)) for (const [k, n] of Object.entries(v)) out[k] = (out[k] || 0) + n; return Object.entries(out).sort((a, b) => a[0].localeCompare(b[0])); };

  function gap(topic) {
    const box = el("div", "topic");
    box.append(el("h3", "", `${topic.suggested_question}`));
    const trend = el("span", topic.previous_size && topic.size > topic.previous_size ? "trend-up" : "", `较上期 ${topic.trend}`);
    const meta = el("p", "meta", `共 ${topic.size} 条 · `); meta.append(trend);
    const where = Object.entries(topic.branches).map(([k, v]) => `${k} ${v}`).join("、") || "未绑定客户";
    meta.append(` · 网点：${where} · 客户层级：${Object.entries(topic.segments).map(([k, v]) => `${k} ${v}`).join("、")}`);
    box.append(meta);
    const list = el("ul"); for (const e of topic.examples.slice(0, 20)) list.append(el("li", "", e)); box.append(list);
    const q = el("input"); q.value = topic.suggested_question; q.setAttribute("aria-label", "标准问题");
    const a = el("textarea"); a.placeholder = "请填写答案"; a.setAttribute("aria-label", "答案");
    if (topic.draft_answer) { a.value = topic.draft_answer; box.append(el("p", "hint", "已带入客户经理过去的人工答复作为草稿，请核对后再生成。")); }
    const btn = el("button", "", "生成知识点"); btn.type = "button";
    const status = el("p", "hint", ""); status.setAttribute("role", "status");
    btn.addEventListener("click", async () => {
      btn.disabled = true; status.textContent = "正在生成…";
      try {
        const done = await api(`/console/api/insights/topics/${topic.id}/resolve`, { answer: a.value, question: q.value });
        status.textContent = `已生成知识点 ${done.knowledge_point_id}，几秒内生效。`;
      } catch (err) { status.textContent = err.message; btn.disabled = false; }
    });
    box.append(el("label", "", "标准问题"), q, el("label", "", "答案"), a, btn, status);
    return box;
  }

  function review(item) {
    const tr = el("tr");
    tr.append(el("td", "", item.text), el("td", "", item.intent || "未识别"), el("td", "", item.confidence == null ? "—" : item.confidence.toFixed(2)));
    const td = el("td");
    const input = el("input"); input.placeholder = "正确的意图名"; input.setAttribute("aria-label", "意图");
    const ok = el("button", "", "确定"); ok.type = "button";
    const out = el("button", "", "超出范围"); out.type = "button";
    const send = async (body) => { try { await api(`/console/api/insights/reviews/${item.id}`, body); tr.remove(); } catch (err) { notice(err.message); } };
    ok.addEventListener("click", () => send({ intent: input.value.trim() }));
    out.addEventListener("click", () => send({ out_of_scope: true }));
    td.append(input, ok, out); tr.append(td);
    return tr;
  }

  async function load() {
    const days = $("days").value;
    const data = await api(`/console/api/insights?days=${encodeURIComponent(days)}`);
    const alerts = $("alerts"); alerts.textContent = "";
    for (const al of data.alerts) alerts.append(el("li", "", `${al.day}「${al.topic}」今天 ${al.count} 条，平时每天约 ${al.usual} 条`));
    if (!data.alerts.length) alerts.append(el("li", "empty", "没有突增。"));
    const gaps = $("gaps"); gaps.textContent = "";
    for (const t of data.topics) gaps.append(gap(t));
    if (!data.topics.length) gaps.append(el("p", "empty", "这段时间没有未答问题。"));
    const tr = data.trends;
    bars("chart-topics", byInner(tr.topics_by_day));
    bars("chart-handoffs", Object.entries(tr.handoff_reasons).sort((a, b) => b[1] - a[1]));
    bars("chart-complaints", Object.entries(tr.complaint_reasons).sort((a, b) => b[1] - a[1]));
    bars("chart-sentiment", Object.entries(tr.sentiment_by_day).map(([day, v]) => [`${day} 负面/不满`, (v["负面"] || 0) + (v["不满"] || 0)]));
    bars("chart-branches", byInner(tr.topics_by_branch));
    bars("chart-segments", byInner(tr.topics_by_segment));
    const leads = $("leads").querySelector("tbody"); leads.textContent = "";
    for (const l of data.leads) {
      const row = el("tr");
      row.append(el("td", "", l.product_name), el("td", "", l.customer_id ? `客户 ${l.customer_id}` : "未绑定"), el("td", "", l.trigger_words), el("td", "", l.text), el("td", "", l.status_name));
      leads.append(row);
    }
    const reviews = $("reviews").querySelector("tbody"); reviews.textContent = "";
    for (const r of data.reviews) reviews.append(review(r));
  }

  async function start() {
    try {
      const me = await api("/console/api/me");
      csrf = me.csrf;
      await load();
    } catch (err) {
      notice(err.status === 401 ? "请先在工作台登录。" : err.message);
    }
  }
  $("days").addEventListener("change", () => load().catch((err) => notice(err.message)));
  start();
})();
