// dropwhy's version, from the package it ships in (dist/src/ → the package root).
export const VERSION: string = require('../../package.json').version;
