// The backend pool on the haproxy seed topology (b: two haproxy LB nodes, active-backup); the
// scenarios are in backend-pool-scenarios.ts.
import { backendPoolTests } from './backend-pool-scenarios.js';

backendPoolTests('b');
