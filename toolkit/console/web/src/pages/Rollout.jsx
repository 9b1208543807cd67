import { useEffect, useRef, useState } from 'react';
import { api, enc, stream } from '../api.js';
import { Badge, ErrorBox, Table, when } from '../components/common.jsx';

// Green's share of the traffic over time, as a step line (blue has the rest).
function WeightChart({ points }) {
  const width = 640, height = 180, pad = 32;
  if (!points.length) return <p className="muted">No traffic weights recorded yet.</p>;
  const t0 = points[0].t;
  const t1 = Math.max(points[points.length - 1].t, t0 + 1);
  const x = (t) => pad + ((t - t0) / (t1 - t0)) * (width - 2 * pad);
  const y = (w) => height - pad - (w / 100) * (height - 2 * pad);
  let d = `M ${x(points[0].t)} ${y(points[0].weight)}`;
  for (let i = 1; i < points.length; i += 1) d += ` H ${x(points[i].t)} V ${y(points[i].weight)}`;
  const last = points[points.length - 1];
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img"
           aria-label={`Green's traffic share over time: ${points.map((p) => `${p.weight}%`).join(', ')}`}>
        {[0, 50, 100].map((w) => (
          <g key={w}>
            <line x1={pad} x2={width - pad} y1={y(w)} y2={y(w)} className="grid" />
            <text x={4} y={y(w) + 4} className="axis">{w}%</text>
          </g>
        ))}
        <path d={d} className="weight-line" />
        {points.map((p, i) => <circle key={i} cx={x(p.t)} cy={y(p.weight)} r={4} className="weight-dot" />)}
        <text x={width - pad} y={height - 8} textAnchor="end" className="axis">{Math.round(last.t - t0)} s</text>
      </svg>
      <figcaption>Green’s share of the traffic (blue carries the rest): now {last.weight}%</figcaption>
    </figure>
  );
}

function Side({ label, side }) {
  if (!side) return <div className="side"><h3>{label}</h3><p className="muted">not running</p></div>;
  return (
    <div className={`side health-${side.health}`} data-side={label}>
      <h3>{label}</h3>
      <p>{side.namespace}: version {side.version}, revision {side.revision}</p>
      <p><Badge kind={side.health === 'healthy' ? 'ok' : side.health === 'progressing' ? 'update' : 'violation'}>{side.health}</Badge> ({side.status})</p>
    </div>
  );
}

export default function Rollout({ namespace, name, session }) {
  const [view, setView] = useState(null);
  const [ops, setOps] = useState({});  // this console's operations on the rollout (start, then promote/abort)
  const [points, setPoints] = useState([]);
  const [problem, setProblem] = useState(null);
  const [now, setNow] = useState(Date.now());
  const base = `/api/instances/${enc(namespace)}/${enc(name)}`;
  const seen = useRef(new Set());
  const addPoint = (t, weight, key) => {
    if (weight === undefined || weight === null || seen.current.has(key)) return;
    seen.current.add(key);
    // one point per change of weight: the route's state and this console's step events both report it
    setPoints((old) => [...old, { t, weight }].sort((a, b) => a.t - b.t)
      .filter((p, i, all) => i === 0 || p.weight !== all[i - 1].weight));
  };
  useEffect(() => {
    seen.current = new Set();
    setPoints([]);
    const close = stream(`${base}/rollout/events`, {
      status: (data) => {
        setView({ ...data, received: Date.now() });
        const s = data.status;
        if (s && s.updated) addPoint(Date.parse(s.updated) / 1000, s.weight ?? 0, `status:${s.updated}:${s.weight}`);
      },
      operation: (data) => {
        setOps((old) => ({ ...old, [data.id]: { ...data, events: [...(old[data.id]?.events || []), ...data.events] } }));
        for (const e of data.events) {
          if (e.kind === 'weight' && e.status === 'done') addPoint(e.time, e.weight, `op:${e.time}`);
        }
      },
      problem: (data) => setProblem({ message: data.error }),
    });
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => { close(); clearInterval(tick); };
  }, [base]);

  const end = async (action) => {
    setProblem(null);
    try {
      const started = await api(`${base}/rollout/${action}`, { method: 'POST', body: {} });
      setOps((old) => ({ ...old, [started.id]: { ...started, events: old[started.id]?.events || [] } }));
    } catch (e) {
      setProblem(e);
    }
  };
  const s = view?.status;
  const ordered = Object.values(ops).sort((a, b) => a.started - b.started);
  const next = view?.next;
  const remaining = next ? Math.max(0, next.seconds - (now - (view.received || now)) / 1000) : null;
  const inProgress = s && (s.phase === 'progressing' || s.phase === 'split');
  return (
    <>
      <h1>Rollout of <a href={`#/instances/${enc(namespace)}/${enc(name)}`}>{namespace}/{name}</a></h1>
      <ErrorBox error={problem} />
      {!view ? <p className="muted" role="status">Connecting…</p> : !s ? <p>No rollout recorded for this instance.</p> : (
        <>
          <p className="rollout-summary" aria-live="polite">
            <strong data-phase={s.phase}>{s.phase}</strong>: {s.strategy} {s.from} → {s.to}; green{' '}
            <strong data-weight={s.weight ?? 0}>{s.weight ?? 0}%</strong>
            {s.step ? <> — step {s.step}</> : null}
            {s.message ? <> — {s.message}</> : null}
          </p>
          {inProgress && next ? (
            <p className="next-step">Now: {next.step}; the next step starts {next.bound === 'exact' ? 'in' : 'in at most'} {Math.ceil(remaining)} s</p>
          ) : null}
          {inProgress && session.canChange ? (
            <div className="toolbar">
              {s.phase === 'split' ? <button type="button" className="button primary" onClick={() => end('promote')}>Promote</button> : null}
              <button type="button" className="button danger" onClick={() => end('abort')}>Abort rollout</button>
            </div>
          ) : null}
          <WeightChart points={points} />
          <div className="sides">
            <Side label="blue (instance of record)" side={view.sides?.blue} />
            <Side label="green (new version)" side={view.sides?.green} />
          </div>
          <Table caption="Live route rules">
            <thead><tr><th scope="col">Match</th><th scope="col">Backends and weights</th></tr></thead>
            <tbody>
              {(s.rules || []).map((r, i) => (
                <tr key={i}><td>{r.matches.length ? r.matches.join(' | ') : 'everything'}</td>
                  <td>{Object.entries(r.backends).map(([k, v]) => `${k} ${v}`).join(', ')}</td></tr>
              ))}
            </tbody>
          </Table>
        </>
      )}
      {ordered.map((op) => {
        const byStep = new Map();
        for (const e of op.events.filter((x) => x.index)) byStep.set(`${e.stage}:${e.index}`, e);
        return (
          <div key={op.id}>
            <Table caption={`Steps of the ${op.kind} started here by ${op.by} (${op.state})`} className="steps">
              <thead><tr><th scope="col">Step</th><th scope="col">What</th><th scope="col">State</th><th scope="col">At</th><th scope="col">Note</th></tr></thead>
              <tbody>
                {[...byStep.values()].map((e) => (
                  <tr key={`${e.stage}:${e.index}`} className={`step-${e.status}`} data-step-kind={e.kind}>
                    <th scope="row">{e.stage === 'abort' ? 'abort ' : ''}{e.index}/{e.total}</th><td>{e.step}</td>
                    <td>{e.status}</td><td>{when(e.time)}</td><td>{e.status === 'started' ? '' : e.message.split(': ').slice(1).join(': ')}</td>
                  </tr>
                ))}
              </tbody>
            </Table>
            {op.error && op.state === 'cancelled' ? <p className="note">{op.error.error}</p> : null}
            {op.error && op.state !== 'cancelled' ? <ErrorBox error={{ message: op.error.error, hint: op.error.hint }} /> : null}
          </div>
        );
      })}
    </>
  );
}
