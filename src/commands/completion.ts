// dropwhy completion: a bash completion script made from the command table (command-line.ts), so it
// knows every command and option without running dropwhy at each Tab; the values it offers are this
// module's few lists, the machine's (namespaces, interfaces, files) and this kernel's reason names.
import { COMMAND_SPECS, DEFAULT_COMMAND, type CommandSpec } from './command-line';
import { COLOR_CHOICES, LOG_LEVELS } from './options';
import { LOG_FORMATS } from '../log';
import { PROTOCOLS } from '../events/filter';

/** Values of the options that take one of a few words. */
const WORDS: Record<string, readonly string[]> = {
  output: ['text', 'json'],
  color: COLOR_CHOICES,
  'log-level': LOG_LEVELS,
  'log-format': LOG_FORMATS,
  'filter-proto': Object.keys(PROTOCOLS),
};

/** Values read from the machine when Tab is pressed, as bash code that prints candidates. */
const LISTED: Record<string, string> = {
  'filter-netns': 'ls /run/netns 2>/dev/null',
  'filter-ifname': 'ls /sys/class/net 2>/dev/null',
  'filter-reason': 'dropwhy explain --list 2>/dev/null | cut -d" " -f1',
  'exclude-reason': 'dropwhy explain --list 2>/dev/null | cut -d" " -f1',
};

/** Options whose value is a file path. */
const FILES = new Set(['write', 'ready-file']);

/** Every option of a command as typed: --name, --no-name for a boolean, -x for a one-letter alias. */
function flags(spec: CommandSpec): string[] {
  const names = ['--help'];
  for (const table of spec.options) {
    for (const [name, option] of Object.entries(table)) {
      names.push(`--${name}`);
      if (option.type === 'boolean') names.push(`--no-${name}`);
      if (typeof option.alias === 'string' && option.alias.length === 1) names.push(`-${option.alias}`);
    }
  }
  return names;
}

/** The options (and aliases) that take a value, for the case pattern that completes it. */
function valueOptions(): Map<string, string> {
  const byName = new Map<string, string>();
  for (const spec of COMMAND_SPECS) {
    for (const table of spec.options) {
      for (const [name, option] of Object.entries(table)) {
        if (option.type === 'boolean') continue;
        byName.set(`--${name}`, name);
        if (typeof option.alias === 'string' && option.alias.length === 1) byName.set(`-${option.alias}`, name);
      }
    }
  }
  return byName;
}

function quoted(words: readonly string[]): string {
  return `'${words.join(' ')}'`;
}

export function completionScript(): string {
  const commands = COMMAND_SPECS.filter((spec) => spec.name !== DEFAULT_COMMAND).map((spec) => spec.name);
  const valueCases: string[] = [];
  const byOption = new Map<string, string[]>();
  for (const [flag, name] of valueOptions()) byOption.set(name, [...(byOption.get(name) ?? []), flag]);
  for (const [name, flagsOfIt] of byOption) {
    const pattern = flagsOfIt.join('|');
    if (WORDS[name]) valueCases.push(`    ${pattern}) COMPREPLY=($(compgen -W ${quoted(WORDS[name])} -- "$cur")); return ;;`);
    else if (LISTED[name]) valueCases.push(`    ${pattern}) COMPREPLY=($(compgen -W "$(${LISTED[name]})" -- "$cur")); return ;;`);
    else if (FILES.has(name)) valueCases.push(`    ${pattern}) COMPREPLY=($(compgen -f -- "$cur")); return ;;`);
    else valueCases.push(`    ${pattern}) return ;;`);
  }
  const commandCases = COMMAND_SPECS.map((spec) => `    ${spec.name === DEFAULT_COMMAND ? '*' : spec.name}) words=${quoted(flags(spec))} ;;`);
  // The default command's case must come last: it matches any word.
  commandCases.push(commandCases.splice(0, 1)[0]);
  return `# bash completion for dropwhy (made by \`dropwhy completion\` from its option tables)
_dropwhy() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} command= words i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i-1]} in ${[...valueOptions().keys()].join('|')}) continue ;; esac
    case \${COMP_WORDS[i]} in
    --) return ;;
    -*) ;;
    *) command=\${COMP_WORDS[i]}; break ;;
    esac
  done
  case $prev in
${valueCases.join('\n')}
  esac
  if [[ -z $command && $cur != -* ]]; then
    COMPREPLY=($(compgen -W ${quoted(commands)} -- "$cur"))
    return
  fi
  case $command in
${commandCases.join('\n')}
  esac
  [[ $cur == -* ]] && COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _dropwhy dropwhy
`;
}
