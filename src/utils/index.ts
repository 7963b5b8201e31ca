// fm.utils: helpers around training (plots).
export * from './plot.js';
