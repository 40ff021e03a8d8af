/// The dashboard at `/`: one page, its script and styles inline (no build step, nothing fetched from
/// elsewhere), polling `/api/stats.json` every second. Per pool: the histogram of posterior means,
/// selects and updates per second (from the change in the counters between two polls), calibration
/// (predicted vs realised success rate of the update batches, the last 200 of them) and the
/// effective ratio (share of prompts neither all solved nor all failed) per batch, over every batch
/// seen since the page was opened (the server keeps the last 64; the page up to 1,000).
///
/// Every figure is also in the DOM as text with a `data-k` name, so the browser test reads what a
/// person sees.
enum DashboardPage {
  static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>moppsd</title>
    <style>
      :root { --fg: #1d2330; --muted: #667085; --line: #d0d5dd; --bar: #3b6fd8; --pt: #d8573b; --bg: #f7f8fa; }
      body { font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 0; padding: 16px 24px; }
      header { display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; margin-bottom: 12px; }
      h1 { font-size: 20px; margin: 0; }
      header span { color: var(--muted); }
      #status.ok { color: #1a7f37; } #status.bad { color: #b42318; }
      .pool { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin-bottom: 16px; }
      .pool h2 { font-size: 16px; margin: 0 0 8px; } .pool h2 small { color: var(--muted); font-weight: normal; }
      dl { display: grid; grid-template-columns: repeat(8, minmax(90px, 1fr)); gap: 4px 12px; margin: 0 0 8px; }
      dt { color: var(--muted); font-size: 12px; } dd { margin: 0; font-size: 18px; font-variant-numeric: tabular-nums; }
      .charts { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; }
      .chart h3 { font-size: 13px; font-weight: 600; margin: 4px 0; }
      svg { width: 100%; height: 180px; background: #fcfcfd; border: 1px solid #eaecf0; border-radius: 4px; }
      svg text { font-size: 10px; fill: var(--muted); }
      svg .count { fill: var(--fg); }
      .empty { color: var(--muted); }
    </style>
    </head>
    <body>
    <header>
      <h1>moppsd</h1>
      <span id="status">connecting…</span>
      <span>version <b id="version">?</b></span>
      <span>kernel <b id="kernel">?</b></span>
      <span>uptime <b id="uptime">?</b> s</span>
      <span>RSS <b id="rss">?</b> MiB</span>
      <span>log <b id="wal">?</b> KiB</span>
    </header>
    <main id="pools"><p class="empty">no pools yet</p></main>
    <script>
    "use strict";
    const previous = {};  // pool name -> {selects, updates, t}
    // pool name -> update index -> figures: the server keeps the last 64 updates, the page every
    // one it has seen (up to 1,000), so the charts cover the time it has been open.
    const history = {};
    const KEEP = 1000;

    function remember(p) {
      const h = history[p.name] || (history[p.name] = new Map());
      // A pool dropped and created again (or restored) starts over.
      if (previous[p.name] && p.updates < previous[p.name].updates) h.clear();
      for (const u of p.recent_updates) h.set(u.index, u);
      const all = [...h.values()].sort((a, b) => a.index - b.index);
      for (const u of all.slice(0, Math.max(0, all.length - KEEP))) h.delete(u.index);
      return all.slice(-KEEP);
    }
    const W = 400, H = 180, PAD = 24;

    function esc(s) { return String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c])); }
    function fixed(v, d) { return v === null || v === undefined ? "–" : Number(v).toFixed(d); }

    function histogram(counts, bounds) {
      const max = Math.max(1, ...counts), w = (W - 2 * PAD) / counts.length;
      let s = `<svg viewBox="0 0 ${W} ${H}" data-k="histogram">`;
      counts.forEach((n, i) => {
        const h = (H - 2 * PAD) * n / max, x = PAD + i * w, y = H - PAD - h;
        s += `<g class="bar" data-bucket="${i}" data-count="${n}"><rect x="${x + 1}" y="${y}" width="${w - 2}" height="${h}" fill="var(--bar)"></rect>`;
        s += `<text class="count" x="${x + w / 2}" y="${y - 3}" text-anchor="middle">${n}</text></g>`;
        s += `<text x="${x + w}" y="${H - PAD + 12}" text-anchor="middle">${bounds[i].toFixed(1)}</text>`;
      });
      return s + `<text x="${PAD}" y="${H - PAD + 12}" text-anchor="middle">0</text></svg>`;
    }

    function calibration(updates) {
      const sx = v => PAD + v * (W - 2 * PAD), sy = v => H - PAD - v * (H - 2 * PAD);
      let s = `<svg viewBox="0 0 ${W} ${H}" data-k="calibration">`;
      s += `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(1)}" y2="${sy(1)}" stroke="var(--line)" stroke-dasharray="4"></line>`;
      s += `<text x="${W / 2}" y="${H - 4}" text-anchor="middle">predicted</text><text x="4" y="${PAD - 8}">realised</text>`;
      for (const u of updates) {
        s += `<circle class="pt" cx="${sx(u.predicted)}" cy="${sy(u.realised)}" r="3" fill="var(--pt)" data-predicted="${u.predicted}" data-realised="${u.realised}"></circle>`;
      }
      return s + "</svg>";
    }

    function effective(updates) {
      const n = updates.length, sx = i => PAD + (n < 2 ? 0.5 : i / (n - 1)) * (W - 2 * PAD), sy = v => H - PAD - v * (H - 2 * PAD);
      let s = `<svg viewBox="0 0 ${W} ${H}" data-k="effective">`;
      s += `<text x="4" y="${sy(1) + 3}">1</text><text x="4" y="${sy(0) + 3}">0</text>`;
      s += `<polyline fill="none" stroke="var(--bar)" stroke-width="2" points="${updates.map((u, i) => `${sx(i)},${sy(u.effective)}`).join(" ")}"></polyline>`;
      updates.forEach((u, i) => { s += `<circle cx="${sx(i)}" cy="${sy(u.effective)}" r="2.5" fill="var(--bar)" data-effective="${u.effective}"></circle>`; });
      if (n) s += `<text x="${W / 2}" y="${H - 4}" text-anchor="middle">updates ${updates[0].index}–${updates[n - 1].index}</text>`;
      return s + "</svg>";
    }

    function poolSection(p, uptime) {
      const updates = remember(p);
      const prev = previous[p.name], dt = prev ? uptime - prev.t : 0;
      const rate = (now, before) => prev && dt > 0 ? Math.max(0, (now - before) / dt) : 0;
      const selectsPerS = rate(p.selects, prev && prev.selects), updatesPerS = rate(p.updates, prev && prev.updates);
      previous[p.name] = {selects: p.selects, updates: p.updates, t: uptime};
      const last = p.recent_updates.length ? p.recent_updates[p.recent_updates.length - 1] : null;
      const figures = [
        ["prompts", "prompts", p.prompts], ["prompts_with_data", "with data", p.prompts_with_data],
        ["selects", "selects", p.selects], ["updates", "updates", p.updates],
        ["selects_per_s", "selects/s", fixed(selectsPerS, 1)], ["updates_per_s", "updates/s", fixed(updatesPerS, 1)],
        ["last_select_mean_sample", "last select: mean sample", fixed(p.last_select_mean_sample, 3)],
        ["last_update_realised", "last update: realised", fixed(last && last.realised, 3)],
        ["last_update_predicted", "last update: predicted", fixed(last && last.predicted, 3)],
        ["last_update_effective", "last update: effective", fixed(last && last.effective, 3)],
        ["mean_of_means", "mean posterior mean", fixed(p.prompts ? p.mean_sum / p.prompts : null, 3)],
      ];
      for (const [k, v] of Object.entries(p.strategy_state)) figures.push(["state_" + k, k, fixed(v, 3)]);
      let s = `<section class="pool" data-pool="${esc(p.name)}"><h2>${esc(p.name)} <small>${esc(p.strategy)}</small></h2><dl>`;
      for (const [k, label, v] of figures) s += `<div><dt>${esc(label)}</dt><dd data-k="${k}">${esc(v)}</dd></div>`;
      s += `</dl><div class="charts">`;
      s += `<div class="chart"><h3>posterior means</h3>${histogram(p.mean_histogram, window.meanBounds)}</div>`;
      s += `<div class="chart"><h3>calibration, ${updates.length} updates</h3>${calibration(updates.slice(-200))}</div>`;
      s += `<div class="chart"><h3>effective ratio per update</h3>${effective(updates)}</div>`;
      return s + "</div></section>";
    }

    async function refresh() {
      const status = document.getElementById("status");
      try {
        const r = await fetch("/api/stats.json", {cache: "no-store"});
        const d = await r.json();
        if (!r.ok) throw new Error(d.reason || r.status);
        window.meanBounds = d.mean_bounds;
        status.textContent = d.ready ? "ready" : "not ready"; status.className = d.ready ? "ok" : "bad";
        document.getElementById("version").textContent = d.version;
        document.getElementById("kernel").textContent = d.kernel;
        document.getElementById("uptime").textContent = Math.floor(d.uptime_seconds);
        document.getElementById("rss").textContent = (d.resident_bytes / 1048576).toFixed(1);
        document.getElementById("wal").textContent = (d.wal_bytes / 1024).toFixed(1);
        document.getElementById("pools").innerHTML = d.pools.length
          ? d.pools.map(p => poolSection(p, d.uptime_seconds)).join("") : '<p class="empty">no pools yet</p>';
        document.body.dataset.refreshed = String((Number(document.body.dataset.refreshed) || 0) + 1);
      } catch (e) {
        status.textContent = "unreachable: " + e.message; status.className = "bad";
      }
    }
    refresh();
    setInterval(refresh, 1000);
    </script>
    </body>
    </html>
    """#
}
