// A hash router: #/catalog, #/types/chat?version=1.0.0, #/deploy/chat, #/instances, #/instances/NS/NAME,
// #/instances/NS/NAME/rollout, #/graph. The server answers every path with the same page.
import { useEffect, useState } from 'react';

function parse(hash) {
  const text = (hash || '').replace(/^#/, '') || '/catalog';
  const [path, search = ''] = text.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { path, parts, params: Object.fromEntries(new URLSearchParams(search)) };
}

export function useRoute() {
  const [route, setRoute] = useState(() => parse(window.location.hash));
  useEffect(() => {
    const changed = () => setRoute(parse(window.location.hash));
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}

export function go(href) {
  window.location.hash = href.replace(/^#/, '');
}
