// state.js: what the console holds, shared by its modules.
import { chatLabel } from './format.js';

export const TOKEN_KEY = 'hotline12345.agent';
export const EMERGENCY_PRIORITY = 100; // an offer's priority at or above it is an emergency chat

export const S = {
  token: '',
  agent: null,
  presence: 'offline',
  presenceChosen: false,
  windowS: 180,
  sessions: new Map(), // id → session state, see ensure() in frames.js
  offers: new Map(), // id → offer data + received time
  numbers: new Map(), // session id → request number, from any frame or answer that named it
  current: '',
  sock: null,
  closeArmed: 0,
  lastTyping: 0,
  accepting: new Set(), // video sessions accepted in this tab: it makes the call
  view: 'desk', // desk | wall (supervisors) | history
  wall: null, // the last GET /v1/agents/wall answer
  wallAt: 0,
  wallTimer: 0,
  wallBusy: false,
  alerts: new Map(), // sid → alert data (escalations, emergencies), newest last
  emergencies: new Map(), // sid → category ('' when only the offer's priority told) of the emergency chats seen
  wallFocus: '', // the chat "show on the wall" asked for: highlighted there
  wallScrolled: '', // … and scrolled to once
  takingOver: new Set(), // sessions this tab asked to take over
  transfers: new Map(), // sid → agent or skill a transfer from this tab named
  reassign: new Map(), // sid → the agent chosen in the wall's reassign menu
};

export const isSupervisor = () => !!(S.agent && Array.isArray(S.agent.roles) && S.agent.roles.includes('supervisor'));
export const myID = () => (S.agent ? S.agent.id : '');

// noteNumber remembers a chat's request number.
export function noteNumber(sid, number) {
  if (sid && number) S.numbers.set(sid, String(number));
}

// label names a chat: its request number, else "#" and the end of its id.
export const label = (sid) => chatLabel(S.numbers.get(sid), sid);
