export { WebhookDispatcher, type WebhookDispatcherOptions } from './webhook-dispatcher.js';
export { WebhookSender, backoffMs, type AttemptOutcome, type WebhookPayload, type WebhookSenderOptions } from './webhook-sender.js';
export { webhooksSchema, wantsEvent, type WebhookConfig, type Severity } from './webhook-config.js';
