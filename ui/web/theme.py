"""The page's stylesheet (a module, so it ships with the package). System fonts only."""

CSS = """
/* diffsearch web UI. System fonts only; nothing is fetched from outside the server. */
:root {
  --ds-a: #4f46e5;          /* encoder A */
  --ds-a-soft: #eef2ff;
  --ds-b: #c2410c;          /* encoder B */
  --ds-b-soft: #fff7ed;
  --ds-ink: #1f2937;
  --ds-muted: #6b7280;
  --ds-line: #e5e7eb;
  --ds-card: #ffffff;
  --ds-mark: #fde68a;
}
.dark {
  --ds-a-soft: #1e1b4b;
  --ds-b-soft: #431407;
  --ds-ink: #e5e7eb;
  --ds-muted: #9ca3af;
  --ds-line: #374151;
  --ds-card: #111827;
  --ds-mark: #854d0e;
}
.gradio-container { max-width: 1280px !important; margin: 0 auto !important; }
footer { display: none !important; }

/* header */
#ds-header { display: flex; align-items: baseline; gap: 14px; padding: 6px 2px 2px; }
#ds-header h1 { font-size: 1.6rem; margin: 0; letter-spacing: -0.02em; color: var(--ds-ink); }
#ds-header h1 span { color: var(--ds-a); }
#ds-header p { margin: 0; color: var(--ds-muted); font-size: 0.95rem; }

#ds-searchbar { align-items: stretch; margin-top: 4px; }
#ds-query textarea, #ds-query input { font-size: 1.1rem !important; padding: 12px 14px !important; }
#ds-search-btn { min-width: 110px; max-width: 160px; }
#ds-level { min-width: 210px; }
.ds-index-line { color: var(--ds-muted); font-size: 0.85rem; padding: 0 4px; }

/* messages */
.ds-msg { display: flex; gap: 10px; align-items: flex-start; border-radius: 10px;
  padding: 10px 14px; margin: 6px 0; font-size: 0.95rem; line-height: 1.4; border: 1px solid; }
.ds-msg-icon { font-size: 1.1rem; line-height: 1.2; }
.ds-msg-error { background: #fef2f2; border-color: #fecaca; color: #991b1b; }
.ds-msg-warning { background: #fffbeb; border-color: #fde68a; color: #92400e; }
.ds-msg-info { background: #eff6ff; border-color: #bfdbfe; color: #1e40af; }
.ds-msg-ok { background: #ecfdf5; border-color: #a7f3d0; color: #065f46; }
.ds-empty { color: var(--ds-muted); padding: 18px; text-align: center; font-style: italic; }

/* agreement header */
.ds-agreement { display: flex; flex-wrap: wrap; gap: 10px; margin: 4px 0 2px; }
.ds-metric { flex: 1 1 150px; border: 1px solid var(--ds-line); border-radius: 10px;
  padding: 8px 12px; background: var(--ds-card); }
.ds-metric-label { font-size: 0.75rem; text-transform: uppercase; letter-spacing: 0.05em;
  color: var(--ds-muted); }
.ds-metric-value { font-size: 1.35rem; font-weight: 650; color: var(--ds-ink);
  font-variant-numeric: tabular-nums; }
.ds-of { font-size: 0.9rem; color: var(--ds-muted); font-weight: 400; }
.ds-metric-note { font-size: 0.85rem; color: var(--ds-muted); }
.ds-meter { height: 5px; background: var(--ds-line); border-radius: 3px; margin-top: 4px; overflow: hidden; }
.ds-meter > div { height: 100%; background: linear-gradient(90deg, var(--ds-a), var(--ds-b)); }
.ds-timing { flex: 0 1 160px; }
.ds-single-head { padding: 4px 2px; }

/* the two columns, aligned by rank */
.ds-results { display: grid; gap: 8px 14px; margin-top: 4px; }
.ds-results.ds-pair { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); }
.ds-results.ds-single { grid-template-columns: minmax(0, 1fr); }
.ds-col-head { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; padding: 8px 10px;
  border-radius: 10px; position: sticky; top: 0; z-index: 2; }
.ds-col-head.ds-side-a { background: var(--ds-a-soft); border-bottom: 3px solid var(--ds-a); }
.ds-col-head.ds-side-b { background: var(--ds-b-soft); border-bottom: 3px solid var(--ds-b); }
.ds-side-letter { display: inline-grid; place-items: center; width: 24px; height: 24px;
  border-radius: 50%; color: #fff; font-weight: 700; font-size: 0.85rem; }
.ds-side-a .ds-side-letter { background: var(--ds-a); }
.ds-side-b .ds-side-letter { background: var(--ds-b); }
.ds-enc-name { font-weight: 650; color: var(--ds-ink); }
.ds-tag { font-size: 0.72rem; padding: 1px 7px; border-radius: 999px; background: var(--ds-card);
  border: 1px solid var(--ds-line); color: var(--ds-muted); }
.ds-tag-family { font-weight: 600; }
.ds-cell { min-width: 0; }

.ds-hit { border: 1px solid var(--ds-line); border-left: 4px solid var(--ds-line);
  border-radius: 10px; padding: 9px 12px 10px; background: var(--ds-card); cursor: pointer;
  transition: box-shadow .12s, transform .12s, border-color .12s; height: 100%; box-sizing: border-box; }
.ds-hit:hover, .ds-hit:focus-visible { box-shadow: 0 2px 10px rgba(0,0,0,.08); outline: none; }
.ds-hit.ds-shared { border-left-color: var(--pair); }
.ds-hit.ds-linked { box-shadow: 0 0 0 2px var(--pair); }
.ds-hit.ds-open { background: var(--ds-a-soft); }
.ds-hit-top { display: flex; align-items: center; gap: 8px; }
.ds-rank { flex: none; font-weight: 700; color: var(--ds-muted); min-width: 1.6em;
  font-variant-numeric: tabular-nums; }
.ds-rank::before { content: "#"; font-weight: 400; opacity: .6; }
.ds-title { font-weight: 620; color: var(--ds-ink); overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; flex: 1 1 auto; min-width: 0; }
.ds-score { flex: none; font-family: ui-monospace, monospace; font-size: 0.8rem; color: var(--ds-muted); }
.ds-badge { flex: none; font-size: 0.72rem; font-weight: 700; color: #fff; background: var(--pair);
  padding: 1px 7px; border-radius: 999px; }
.ds-only { flex: none; font-size: 0.7rem; color: var(--ds-muted); border: 1px dashed var(--ds-line);
  padding: 0 6px; border-radius: 999px; }
.ds-shift { flex: none; font-size: 0.75rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.ds-up { color: #059669; }
.ds-down { color: #dc2626; }
.ds-same { color: var(--ds-muted); }
.ds-meta { display: flex; gap: 8px; flex-wrap: wrap; font-size: 0.78rem; color: var(--ds-muted);
  margin: 2px 0 4px 2.2em; }
.ds-source { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.ds-ft { text-transform: uppercase; font-size: 0.68rem; border: 1px solid var(--ds-line);
  border-radius: 4px; padding: 0 4px; }
.ds-snippet { margin: 0 0 0 2.2em !important; font-size: 0.88rem; line-height: 1.45; color: var(--ds-ink);
  display: -webkit-box; -webkit-line-clamp: 4; -webkit-box-orient: vertical; overflow: hidden; }
.ds-snippet mark, .ds-chunk-text mark { background: var(--ds-mark); color: inherit;
  padding: 0 1px; border-radius: 2px; }

/* document view: a drawer over the right side of the page */
.ds-backdrop { position: fixed; inset: 0; background: rgba(15, 23, 42, .28); z-index: 999; }
.ds-drawer { position: fixed; top: 0; right: 0; bottom: 0; width: min(760px, 94vw); z-index: 1000;
  background: var(--ds-card); border-left: 1px solid var(--ds-line); overflow: auto;
  box-shadow: -12px 0 32px rgba(0,0,0,.18); padding: 0 22px 24px; box-sizing: border-box;
  animation: ds-slide .16s ease-out; }
.ds-closed { display: none !important; }
@keyframes ds-slide { from { transform: translateX(40px); opacity: .4; } to { transform: none; opacity: 1; } }
.ds-doc-head { position: sticky; top: 0; background: var(--ds-card); padding: 16px 0 10px;
  border-bottom: 1px solid var(--ds-line); margin-bottom: 8px; z-index: 1; }
.ds-doc-kicker { font-size: 0.72rem; text-transform: uppercase; letter-spacing: .06em; color: var(--ds-a); font-weight: 700; }
.ds-doc-head h3 { margin: 2px 40px 6px 0; font-size: 1.25rem; color: var(--ds-ink); }
.ds-close { position: absolute; top: 12px; right: 10px; width: 34px; height: 34px; border-radius: 50%;
  border: 1px solid var(--ds-line); background: var(--ds-card); color: var(--ds-ink); font-size: 1.3rem;
  line-height: 1; cursor: pointer; }
.ds-close:hover { background: var(--ds-a-soft); }
.ds-doc-meta { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0; font-size: 0.8rem; }
.ds-doc-meta div { display: flex; gap: 5px; }
.ds-doc-meta dt { color: var(--ds-muted); }
.ds-doc-meta dd { margin: 0; color: var(--ds-ink); font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.ds-chunk { border-left: 3px solid var(--ds-line); padding: 4px 12px; margin: 10px 0; }
.ds-chunk.ds-focus { border-left-color: var(--ds-a); background: var(--ds-a-soft); border-radius: 0 8px 8px 0; }
.ds-chunk-head { font-size: 0.72rem; color: var(--ds-muted); text-transform: uppercase; letter-spacing: .04em; margin-bottom: 2px; }
.ds-here { text-transform: none; color: var(--ds-a); font-weight: 700; margin-left: 6px; }
.ds-chunk-text { white-space: pre-wrap; font-size: 0.9rem; line-height: 1.5; color: var(--ds-ink); }

/* ingest and eval */
.ds-stats { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.ds-stat { border: 1px solid var(--ds-line); border-radius: 10px; padding: 6px 14px; min-width: 80px; text-align: center; }
.ds-stat-value { font-size: 1.3rem; font-weight: 650; font-variant-numeric: tabular-nums; color: var(--ds-ink); }
.ds-stat-label { font-size: 0.75rem; color: var(--ds-muted); }
.ds-stat.ds-bad { border-color: #fecaca; background: #fef2f2; }
.ds-failures table { width: 100%; border-collapse: collapse; font-size: 0.85rem; }
.ds-failures table, .ds-failures td, .ds-failures th { border: none !important; }
.ds-failures td, .ds-failures th { border-bottom: 1px solid var(--ds-line) !important; padding: 4px 8px; text-align: left; }
.ds-help { color: var(--ds-muted); font-size: 0.88rem; }

/* Judge tab: the blind pool */
.ds-judge-list { display: grid; gap: 8px; margin-top: 6px; }
.ds-judge-card { border: 1px solid var(--ds-line); border-radius: 10px; padding: 9px 12px 10px;
  background: var(--ds-card); }

/* which encoder a card belongs to: shown only where the two columns stack into one */
.ds-side-mark { display: none; place-items: center; flex: none; width: 18px; height: 18px;
  border-radius: 50%; color: #fff; font-weight: 700; font-size: 0.68rem; }
.ds-side-a .ds-side-mark { background: var(--ds-a); }
.ds-side-b .ds-side-mark { background: var(--ds-b); }

@media (max-width: 760px) {
  .ds-results.ds-pair { grid-template-columns: minmax(0, 1fr); }
  .ds-results.ds-pair .ds-side-mark { display: inline-grid; }
  .ds-results.ds-pair .ds-col-head { position: static; }  /* two stacked sticky heads would overlap */
}
.ds-msg > div { white-space: pre-line; overflow-wrap: anywhere; }
#ds-level .wrap { flex-wrap: nowrap; }
"""
