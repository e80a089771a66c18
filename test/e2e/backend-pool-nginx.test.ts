// The backend pool on the nginx seed topology (a: two nginx LB nodes, active-active); the
// scenarios are in backend-pool-scenarios.ts.
import { backendPoolTests } from './backend-pool-scenarios.js';

backendPoolTests('a');
