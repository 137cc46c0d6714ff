// Which LLM provider a model slug implies (SPEC-ADDENDUM A4.2). The prefix is the text before the first
// `/`; a known name maps to itself, an alias to its canonical name, anything else to no provider at all
// (never a guess such as `auto`: LLM_PROVIDER is a hint the runtime may override, and a wrong hint is
// worse than none).

const SAME_NAME = [
  'minimax', 'minimax-cn', 'anthropic', 'gemini', 'deepseek', 'zai', 'kimi-coding', 'kimi-coding-cn', 'ollama-cloud',
  'kilocode', 'opencode-zen', 'opencode-go', 'openrouter', 'custom', 'gmi', 'qwen-oauth', 'minimax-oauth',
  'alibaba-coding-plan', 'google-gemini-cli', 'openai-codex', 'copilot-acp', 'copilot',
] as const;

const ALIASES: Record<string, string> = {
  alibaba: 'alibaba', dashscope: 'alibaba', qwen: 'alibaba',
  xiaomi: 'xiaomi', mimo: 'xiaomi',
  arcee: 'arcee', 'arcee-ai': 'arcee',
  nvidia: 'nvidia', nim: 'nvidia',
  huggingface: 'huggingface', hf: 'huggingface',
  'ai-gateway': 'ai-gateway', aigateway: 'ai-gateway',
  xai: 'xai', grok: 'xai',
  bedrock: 'bedrock', aws: 'bedrock',
  tencent: 'tencent-tokenhub', 'tencent-tokenhub': 'tencent-tokenhub',
  lmstudio: 'lmstudio', 'lm-studio': 'lmstudio',
  // Models of these vendors are served through OpenRouter on this platform.
  nousresearch: 'openrouter', openai: 'openrouter',
};

const PROVIDERS: ReadonlyMap<string, string> = new Map([...SAME_NAME.map((n) => [n, n] as const), ...Object.entries(ALIASES)]);

/** `openai/gpt-5` → `openrouter`, `anthropic/claude-sonnet-4` → `anthropic`, `gpt-5` or `acme/x` → undefined. */
export function providerForModel(model: string): string | undefined {
  const slash = model.indexOf('/');
  if (slash <= 0) return undefined;
  return PROVIDERS.get(model.slice(0, slash).trim().toLowerCase());
}
