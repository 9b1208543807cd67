import { useEffect, useState } from 'react';
import YAML from 'yaml';

// A field for what a form cannot generate widgets for (a free-form object, a list without item schema):
// edited as YAML, parsed on every change; the schema still validates the parsed value.
function toText(value) {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object' && Object.keys(value).length === 0) return Array.isArray(value) ? '[]' : '{}';
  return YAML.stringify(value, { lineWidth: 0 });
}

export default function YamlField(props) {
  const { formData, onChange, fieldPathId, name, schema, readonly, disabled, uiSchema = {}, required, rawErrors } =
    props;
  const id = fieldPathId.$id;
  const [text, setText] = useState(() => toText(formData));
  const [problem, setProblem] = useState('');
  useEffect(() => {
    // the form's data changed from outside (a plan picked): show it, unless it is what the text already says
    try {
      if (JSON.stringify(YAML.parse(text || 'null') ?? undefined) === JSON.stringify(formData)) return;
    } catch {
      /* the text does not parse: replace it */
    }
    setText(toText(formData));
    setProblem('');
  }, [JSON.stringify(formData)]);
  const changed = (event) => {
    const next = event.target.value;
    setText(next);
    try {
      const parsed = next.trim() === '' ? undefined : YAML.parse(next);
      setProblem('');
      onChange(parsed, fieldPathId.path);
    } catch (error) {
      setProblem(`not valid YAML: ${error.message.split('\n')[0]}`);
    }
  };
  const help = uiSchema['ui:help'];
  const lines = Math.min(12, Math.max(2, text.split('\n').length));
  return (
    <div className="yaml-field">
      <label htmlFor={id}>
        {schema.title || name}
        {required ? <span aria-hidden="true"> *</span> : null} <span className="muted">(YAML)</span>
      </label>
      {schema.description ? <p id={`${id}__description`} className="field-description">{schema.description}</p> : null}
      <textarea
        id={id}
        name={fieldPathId.name || id}
        className="yaml"
        rows={lines}
        value={text}
        readOnly={readonly}
        disabled={disabled}
        spellCheck={false}
        aria-invalid={problem || rawErrors?.length ? 'true' : 'false'}
        aria-describedby={schema.description ? `${id}__description` : undefined}
        onChange={changed}
      />
      {help ? <p className="help">{help}</p> : null}
      {problem ? <p className="field-error" role="alert">{problem}</p> : null}
    </div>
  );
}

export function HiddenField() {
  return null;
}
