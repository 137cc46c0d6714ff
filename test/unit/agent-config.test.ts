import { parse } from 'yaml';
import { parseDotenv, personaKey, providerForModel, renderConfigYaml, yamlQuote } from '../../domain/agent-config';
import { seededRandom } from '../support/seeded-random';

describe('providerForModel (A4.2)', () => {
  it.each([
    ['anthropic/claude-sonnet-4', 'anthropic'],
    ['openai/gpt-5', 'openrouter'],
    ['nousresearch/hermes-4', 'openrouter'],
    ['qwen/qwen3-coder', 'alibaba'],
    ['dashscope/x', 'alibaba'],
    ['grok/grok-4', 'xai'],
    ['aws/claude', 'bedrock'],
    ['tencent/hunyuan', 'tencent-tokenhub'],
    ['LM-Studio/local', 'lmstudio'],
    ['minimax-cn/abab', 'minimax-cn'],
    ['google-gemini-cli/gemini-2.5', 'google-gemini-cli'],
    ['hf/meta-llama/Llama-3', 'huggingface'],
  ])('%s → %s', (model, provider) => {
    expect(providerForModel(model)).toBe(provider);
  });

  it.each(['gpt-5', '', '/x', 'acme/x', 'auto/x', 'open ai/x'])('%j derives no provider', (model) => {
    expect(providerForModel(model)).toBeUndefined();
  });
});

describe('parseDotenv (A7.3)', () => {
  it('skips blanks, comments and bad lines; splits at the first =; strips one matching quote pair', () => {
    const text = [
      '# a comment',
      '',
      'API_KEY=abc=def',
      '  SPACED  =  padded value  ',
      'DOUBLE="quoted value"',
      "SINGLE='single'",
      'MISMATCH="half',
      'EMPTY=',
      '=novalue',
      'no equals sign',
      'lower_case=skipped',
      'export EXPORTED=skipped',
      'CRLF=yes\r',
    ].join('\n');
    expect(parseDotenv(text)).toEqual({ API_KEY: 'abc=def', SPACED: 'padded value', DOUBLE: 'quoted value', SINGLE: 'single', MISMATCH: '"half', CRLF: 'yes' });
  });

  it('a later line wins', () => {
    expect(parseDotenv('A_KEY=1\nA_KEY=2')).toEqual({ A_KEY: '2' });
  });
});

describe('personaKey (A7.2)', () => {
  it.each([
    ['engineer', 'engineer'],
    ['Senior_Dev-2', 'Senior_Dev-2'],
    ['teams/engineer', undefined],
    ['../etc', undefined],
    ['', undefined],
    [null, undefined],
    ['name with space', undefined],
  ])('%j → %j', (filesDir, key) => {
    expect(personaKey(filesDir)).toBe(key);
  });
});

describe('config.yaml (A6.3)', () => {
  it('renders name, prompt files, skills and the idle prompt', () => {
    const text = renderConfigYaml({ name: 'Eng Lead', promptFiles: ['system-prompt.md', 'a.md'], skills: ['review'], idle: { intervalSeconds: 600, prompt: 'check in' } });
    expect(parse(text)).toEqual({ name: 'Eng Lead', prompt_files: ['a.md', 'system-prompt.md'], skills: ['review'], idle_interval_seconds: 600, idle_prompt: 'check in' });
    expect(text).toContain('name: "Eng Lead"');
  });

  it('escapes backslash, quote, LF, CR and TAB as the spec names them', () => {
    expect(yamlQuote('a\\b"c\nd\re\tf')).toBe('"a\\\\b\\"c\\nd\\re\\tf"');
  });

  it('no value can inject a key or change another value (fuzzed round trip)', () => {
    const rnd = seededRandom(0x5eed);
    const alphabet = ['a', 'Z', ' ', ':', '-', '#', '"', "'", '\\', '\n', '\r', '\t', '\u0000', '\u0085', '\u2028', '\u2029', '\ufeff', '{', '}', '[', ']', '&', '*', '!', '|', '>', '%', '@', '`', 'é', '😀', '\u007f', '\u009b'];
    const word = () => Array.from({ length: Math.floor(rnd() * 24) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
    for (let i = 0; i < 2000; i++) {
      const config = { name: word(), promptFiles: [word(), word()], skills: [word()], idle: { intervalSeconds: 60, prompt: word() } };
      const parsed = parse(renderConfigYaml(config));
      expect(Object.keys(parsed).sort()).toEqual(['idle_interval_seconds', 'idle_prompt', 'name', 'prompt_files', 'skills']);
      expect(parsed.name).toBe(config.name);
      expect(parsed.prompt_files).toEqual([...config.promptFiles].sort());
      expect(parsed.skills).toEqual(config.skills);
      expect(parsed.idle_prompt).toBe(config.idle.prompt);
    }
  });
});
