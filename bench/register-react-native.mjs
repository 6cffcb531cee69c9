// `tsx --import ./bench/register-react-native.mjs …`: installs the hooks before anything loads.
import { register } from 'node:module';

register('./react-native-hooks.mjs', import.meta.url);
