// What an agent receives besides its env and token: provider derivation, `.env` layering input, and the
// generated config.yaml. Pure functions; the provision and import activities do the I/O.
export { providerForModel } from './provider';
export { parseDotenv, personaKey } from './dotenv';
export { renderConfigYaml, yamlQuote, type AgentConfig } from './config-yaml';
