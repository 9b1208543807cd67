import dagre from '@dagrejs/dagre';
import { enc, query } from '../api.js';
import { ErrorBox, Loading, Table, useApi } from '../components/common.jsx';

const NODE_W = 190, NODE_H = 58;

// How bad an edge's traffic is, 0 (fine) to 1 (on fire): errors weigh most, then latency.
function heat(traffic) {
  if (!traffic) return 0;
  const errors = Math.min(1, (traffic.errorRatio || 0) / 0.05);
  const latency = Math.min(1, (traffic.p95Ms || 0) / 1000);
  return Math.max(errors, latency);
}

function trafficText(t) {
  if (!t) return 'no traffic data';
  return `${(t.rate ?? 0).toFixed(1)} req/s · ${((t.errorRatio ?? 0) * 100).toFixed(1)}% errors · p95 ${Math.round(t.p95Ms ?? 0)} ms`;
}

// Bound instances are laid out by dagre (consumers left, what they use right); instances with no binding go in a
// grid below, so a cluster of many unrelated instances does not become one tall column.
function layout(nodes, edges) {
  const bound = new Set(edges.flatMap((e) => [e.from, e.to]));
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: 30, ranksep: 110, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) if (bound.has(n.id)) g.setNode(n.id, { width: NODE_W, height: NODE_H });
  edges.forEach((e, i) => g.setEdge(e.from, e.to, { width: 150, height: 20, labelpos: 'c' }, `e${i}`));
  dagre.layout(g);
  const size = bound.size ? g.graph() : { width: 0, height: 0 };
  const width = Math.max(size.width, 4 * (NODE_W + 20) + 20);
  const columns = Math.max(1, Math.floor((width - 20) / (NODE_W + 20)));
  const top = bound.size ? size.height + 10 : 20;
  const boxes = new Map(nodes.filter((n) => bound.has(n.id)).map((n) => [n.id, g.node(n.id)]));
  nodes.filter((n) => !bound.has(n.id)).forEach((n, i) => {
    boxes.set(n.id, { x: 20 + (i % columns) * (NODE_W + 20) + NODE_W / 2,
                      y: top + Math.floor(i / columns) * (NODE_H + 20) + NODE_H / 2 });
  });
  const rows = Math.ceil((nodes.length - bound.size) / columns);
  return { g, boxes, width, height: top + rows * (NODE_H + 20) + 10 };
}

export default function Graph({ params }) {
  const { data, error, loading } = useApi(`/api/graph${query({ namespaces: params.namespaces })}`, { every: 10000 });
  if (loading && !data) return <Loading what="the service graph" />;
  if (!data) return <><h1>Service graph</h1><ErrorBox error={error} /></>;
  const { g, boxes, width, height } = layout(data.nodes, data.edges);
  const hottest = data.edges.reduce((best, e) => (heat(e.traffic) > heat(best?.traffic) ? e : best), null);
  const hotNodes = new Set(data.nodes.filter((n) => n.health === 'failing').map((n) => n.id));
  if (hottest && heat(hottest.traffic) > 0.3) hotNodes.add(hottest.to);
  return (
    <>
      <h1>Service graph</h1>
      <p className="muted">
        Instances are nodes, bindings are edges (consumer → instance). {data.traffic
          ? 'Edges carry the gateway’s request rate, error ratio and latency; the hottest is red.'
          : 'No traffic data yet: edges show declared bindings only.'}
      </p>
      <ErrorBox error={error} />
      <div className="graph-wrap">
        <svg className="graph" viewBox={`0 0 ${width} ${Math.max(height, 100)}`}
             role="img" aria-label={`Service graph: ${data.nodes.length} nodes, ${data.edges.length} bindings`}>
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M 0 0 L 10 5 L 0 10 z" className="arrow" />
            </marker>
          </defs>
          {g.edges().map((ref) => {
            const e = data.edges[Number(ref.name.slice(1))];
            const pts = g.edge(ref).points;
            const d = pts.map((p, i) => `${i ? 'L' : 'M'} ${p.x} ${p.y}`).join(' ');
            const h = heat(e.traffic);
            const mid = pts[Math.floor(pts.length / 2)];
            return (
              <g key={ref.name} className={`edge ${e === hottest && h > 0.3 ? 'hot' : ''}`} data-edge={`${e.from}->${e.to}`}>
                <path d={d} markerEnd="url(#arrow)" strokeWidth={e.traffic ? 2 + Math.min(6, Math.log2(1 + (e.traffic.rate || 0))) : 2}
                      style={{ stroke: e.traffic ? `hsl(${120 - 120 * h}, 70%, 40%)` : undefined }} />
                <text x={mid.x} y={mid.y - 6} textAnchor="middle" className="edge-label">
                  {e.traffic ? trafficText(e.traffic) : e.binding}
                </text>
              </g>
            );
          })}
          {data.nodes.map((n) => {
            const box = boxes.get(n.id);
            const x = box.x - NODE_W / 2, y = box.y - NODE_H / 2;
            const link = n.kind === 'instance' ? `#/instances/${enc(n.namespace)}/${enc(n.name)}` : null;
            const body = (
              <g className={`node health-${n.health} ${hotNodes.has(n.id) ? 'hot' : ''}`} data-node={n.id}>
                <rect x={x} y={y} width={NODE_W} height={NODE_H} rx={8} />
                <text x={box.x} y={y + 22} textAnchor="middle" className="node-name">{n.name}</text>
                <text x={box.x} y={y + 40} textAnchor="middle" className="node-sub">
                  {n.kind === 'instance' ? `${n.type} ${n.version} · ${n.namespace}` : 'namespace (not an instance)'}
                </text>
              </g>
            );
            return link ? <a key={n.id} href={link} aria-label={`${n.id}: ${n.health}`}>{body}</a> : <g key={n.id}>{body}</g>;
          })}
        </svg>
      </div>
      <ul className="legend" aria-label="Legend">
        <li><span className="swatch health-healthy" /> healthy</li>
        <li><span className="swatch health-progressing" /> progressing</li>
        <li><span className="swatch health-failing" /> failing</li>
        <li><span className="swatch hot" /> hot spot</li>
      </ul>
      <Table caption="Bindings (edges)">
        <thead><tr><th scope="col">Consumer</th><th scope="col">Instance</th><th scope="col">Binding</th><th scope="col">Traffic</th></tr></thead>
        <tbody>
          {data.edges.map((e, i) => (
            <tr key={i} data-edge-row={`${e.from}->${e.to}`}><td>{e.from}</td><td>{e.to}</td><td>{e.binding} ({e.type})</td>
              <td>{trafficText(e.traffic)}</td></tr>
          ))}
        </tbody>
      </Table>
    </>
  );
}
