import type { ScenarioResult } from './queue-scenarios';
import type { Settings } from './settings';

export async function outboxScenarios(_settings: Settings): Promise<ScenarioResult[]> {
  return [];
}
