import MarkdownIt from 'markdown-it';

// A chart's README, rendered safely: raw HTML in it is shown as text (html: false) and markdown-it refuses
// javascript:, vbscript:, file: and data: links, so a README cannot run script in the console.
const md = new MarkdownIt({ html: false, linkify: false, typographer: false });
const defaultLink = md.renderer.rules.link_open || ((tokens, idx, options, env, self) => self.renderToken(tokens, idx, options));
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  tokens[idx].attrSet('rel', 'noopener noreferrer nofollow');
  return defaultLink(tokens, idx, options, env, self);
};

export default function Markdown({ text }) {
  return <div className="markdown" dangerouslySetInnerHTML={{ __html: md.render(text || '') }} />;
}
