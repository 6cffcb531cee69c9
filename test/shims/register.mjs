// `tsx --import ./test/shims/register.mjs …`: installs the React Native hooks before anything loads.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
