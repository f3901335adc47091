import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RenderContext } from './context';
import { MULTIPLEXERS } from './multiplexers';
import { SHELLS } from './shells';
import { homeAtRuntime } from './system';

/** The template's own fields beyond the common context, from the registry entry that owns it. */
type Extra = (ctx: RenderContext) => Record<string, unknown>;
const none: Extra = () => ({});

/** Every rendered artefact, by the name `snippet` and the planner use: the core ones, then each registry entry's. */
const OWNERS = new Map<string, { file: string; extra: Extra }>([
  ['helper', { file: 'helper.sh.hbs', extra: none }],
  ['ssh-rc', { file: 'ssh-rc.sh.hbs', extra: none }],
  // install --system: the lines the site-wide zshrc and tmux.conf carry, sourcing the shared parts.
  ['system-zsh-rc', { file: 'system-zsh-rc.zsh.hbs', extra: none }],
  ['system-tmux-rc', { file: 'system-tmux-rc.conf.hbs', extra: none }],
]);
for (const shell of SHELLS) {
  for (const [name, file] of Object.entries(shell.templates)) {
    // The multiplexer pane test, in this shell's syntax, from the multiplexer registry.
    OWNERS.set(name, { file, extra: (ctx) => ({ paneTest: shell.paneTest(ctx.paneVars) }) });
  }
}
for (const mux of MULTIPLEXERS) {
  for (const [name, file] of Object.entries(mux.templates)) OWNERS.set(name, { file, extra: mux.templateContext });
}

export const TEMPLATES: Readonly<Record<string, string>> = Object.fromEntries([...OWNERS].map(([name, o]) => [name, o.file]));
export type TemplateName = string;

/**
 * Built (dist/): the templates compiled by scripts/compile-templates.js, one module each (loaded
 * when first rendered), run by Handlebars' runtime alone, in its one-file build (loading the same
 * runtime as ~20 CommonJS modules costs about twice the start-up time). From the sources
 * (ts-jest): compiled here with the same options.
 */
const fromSources = __filename.endsWith('.ts');
/* eslint-disable @typescript-eslint/no-var-requires */
const handlebars: typeof import('handlebars') = (fromSources ? require('handlebars') : require('handlebars/dist/handlebars.runtime.js')).create();
// Each registry entry's quoting, by the name its templates use (the helper's template uses sh's).
for (const shell of SHELLS) handlebars.registerHelper(shell.quoteHelper, shell.quote);
for (const mux of MULTIPLEXERS) if (mux.quote) handlebars.registerHelper(mux.quote.helper, mux.quote.quote);

const compiled = new Map<TemplateName, HandlebarsTemplateDelegate>();

export function render(name: TemplateName, context: RenderContext): string {
  const owner = OWNERS.get(name);
  if (!owner) throw new Error(`no template named ${name}`);
  let template = compiled.get(name);
  if (!template) {
    template = fromSources
      ? handlebars.compile(readFileSync(join(__dirname, '..', 'templates', owner.file), 'utf8'), { noEscape: true, strict: true })
      : handlebars.template(require(`./templates/${owner.file}.js`) as TemplateSpecification);
    compiled.set(name, template);
  }
  const text = template({ ...context, ...owner.extra(context) });
  return context.system ? homeAtRuntime(text, name) : text;
}
