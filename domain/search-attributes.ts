// Typed search attribute keys (Keyword), shared by workflows (upsert) and the client (start options).
// The dev server declares the same names at start; see SEARCH_ATTRIBUTES in ./vocabulary.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from './vocabulary';

export const WorkspaceIdKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.workspaceId, SearchAttributeType.KEYWORD);
export const WorkspaceRuntimeKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.workspaceRuntime, SearchAttributeType.KEYWORD);
export const ProvisionPhaseKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.provisionPhase, SearchAttributeType.KEYWORD);
export const OrgImportIdKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.orgImportId, SearchAttributeType.KEYWORD);
export const AutoRestartKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.autoRestart, SearchAttributeType.KEYWORD);
export const WorkspaceNameKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.workspaceName, SearchAttributeType.KEYWORD);
