import { useEffect, useState } from 'react';
import { enc, query } from '../api.js';
import { Badge, ErrorBox, Loading, Table, useApi } from '../components/common.jsx';

export default function Catalog() {
  const [text, setText] = useState('');
  const [search, setSearch] = useState('');
  useEffect(() => {
    const timer = setTimeout(() => setSearch(text.trim()), 250);
    return () => clearTimeout(timer);
  }, [text]);
  const { data, error, loading } = useApi(`/api/catalog${query({ q: search })}`);
  return (
    <>
      <h1>Catalog</h1>
      <p className="muted">{data ? `Types of ${data.catalog}` : ' '}</p>
      <div className="toolbar">
        <label htmlFor="catalog-search">Search types</label>
        <input id="catalog-search" type="search" value={text} placeholder="name, description, image, parameter"
               onChange={(e) => setText(e.target.value)} />
      </div>
      <ErrorBox error={error} />
      {loading && !data ? <Loading what="the catalog" /> : null}
      {data ? (
        <Table caption={`${data.types.length} type(s)${search ? ` matching “${search}”` : ''}`}>
          <thead>
            <tr><th scope="col">Type</th><th scope="col">Latest</th><th scope="col">Versions</th>
              <th scope="col">App version</th><th scope="col">Description</th></tr>
          </thead>
          <tbody>
            {data.types.map((t) => (
              <tr key={t.type} data-type={t.type}>
                <th scope="row"><a href={`#/types/${enc(t.type)}`}>{t.type}</a></th>
                <td>{t.latest || '—'} {t.deprecated ? <Badge kind="deprecated">deprecated</Badge> : null}</td>
                <td>{t.versions}</td>
                <td>{t.appVersion || '—'}</td>
                <td>{t.description || <span className="muted">not in the index</span>}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
    </>
  );
}
