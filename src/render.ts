import Handlebars from 'handlebars';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RenderContext, fishQuote, shQuote, tmuxQuote } from './context';

/** Every rendered artefact, by the name `snippet` and the planner use. */
export const TEMPLATES = {
  helper: 'helper.sh.hbs',
  'ssh-rc': 'ssh-rc.sh.hbs',
  sh: 'profile.sh.hbs',
  bash: 'bash.sh.hbs',
  'bash-rc': 'bash-rc.sh.hbs',
  zsh: 'zsh.zsh.hbs',
  fish: 'fish.fish.hbs',
  tmux: 'tmux.conf.hbs',
} as const;
export type TemplateName = keyof typeof TEMPLATES;

const handlebars = Handlebars.create();
handlebars.registerHelper('sq', shQuote);
handlebars.registerHelper('fishq', fishQuote);
handlebars.registerHelper('tmuxq', tmuxQuote);

const compiled = new Map<TemplateName, HandlebarsTemplateDelegate>();

export function render(name: TemplateName, context: RenderContext): string {
  let template = compiled.get(name);
  if (!template) {
    const source = readFileSync(join(__dirname, '..', 'templates', TEMPLATES[name]), 'utf8');
    template = handlebars.compile(source, { noEscape: true, strict: true });
    compiled.set(name, template);
  }
  return template(context);
}
