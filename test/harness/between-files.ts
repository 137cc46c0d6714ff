// Before each integration test file (jest setupFilesAfterEnv): the containers that earlier files of
// this run left behind are removed. Every file closes its platform, but its agents' containers used to
// run until the run's teardown, so a file late in the run shared the two cores with a hundred or more
// of them: in one whole run the F6 corpus took 106 s instead of 10 s, and nine of its requests timed
// out. Files run one at a time (--runInBand), each platform on a task queue of its own, so nothing of
// an earlier file is in use by the time the next one starts.
import { removeRunContainers } from './global-teardown';
import { testServers } from './servers';

beforeAll(() => {
  removeRunContainers(testServers().runId);
}, 120_000);
